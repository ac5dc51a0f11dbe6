// `react/jsx-runtime`: what the server's JSX transform (automatic runtime) imports.
import runtime from "react/jsx-runtime";

export default runtime;
export const { Fragment, jsx, jsxs } = runtime;
