// `@symphony`: the platform's API for `text/symphony-jsx` pages (web/src/symphony/context.ts).
export { SymphonyContext, useSymphony } from "../symphony/context";
