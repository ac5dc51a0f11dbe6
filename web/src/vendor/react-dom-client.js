// `react-dom/client` for extension modules that mount their own roots.
import client from "react-dom/client";

export default client;
export const { createRoot, hydrateRoot, version } = client;
