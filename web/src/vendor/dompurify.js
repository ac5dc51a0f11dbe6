// `dompurify`, the HTML sanitizer the shell uses, for extension modules.
export { default } from "dompurify";
