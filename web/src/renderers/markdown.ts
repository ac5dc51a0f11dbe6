// `text/markdown` resources: YAML front matter (`title`, `breadcrumbs`), template variables
// `{{name}} {{shortname}} {{origin}} {{address}}` from /api/v1/symphonyinfo, rendered with marked and
// sanitized with DOMPurify (extension markdown is not trusted to carry scripts).
import DOMPurify from "dompurify";
import { Marked } from "marked";
import type { SymphonyInfo } from "../api";
import { splitFrontMatter, substitute, type FrontMatter } from "./frontmatter";

export { splitFrontMatter, substitute, type FrontMatter };

const marked = new Marked({ gfm: true, breaks: false, async: false });

export interface RenderedMarkdown {
  html: string;
  frontMatter: FrontMatter;
}

export function renderMarkdown(source: string, info: SymphonyInfo | null): RenderedMarkdown {
  const { data, body } = splitFrontMatter(source);
  const html = marked.parse(substitute(body, info)) as string;
  const frontMatter: FrontMatter = {
    ...data,
    title: typeof data.title === "string" ? substitute(data.title, info) : undefined,
  };
  return { html: DOMPurify.sanitize(html), frontMatter };
}
