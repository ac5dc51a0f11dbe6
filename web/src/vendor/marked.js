// `marked`, the markdown renderer the shell uses, for extension modules.
export * from "marked";
