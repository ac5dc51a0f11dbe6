import { useMemo, type MouseEvent } from "react";
import { isServerPath, navigate } from "../router";
import { useShell } from "../shellContext";
import { renderMarkdown } from "./markdown";

interface Props {
  content: string;
}

export default function MarkdownView({ content }: Props) {
  const { info } = useShell();
  const rendered = useMemo(() => renderMarkdown(content, info), [content, info]);

  // Same-origin links to shell pages navigate inside the shell instead of reloading the page.
  const onClick = (e: MouseEvent<HTMLDivElement>) => {
    const a = (e.target as HTMLElement).closest("a");
    if (!a || e.metaKey || e.ctrlKey || e.shiftKey || a.target) return;
    const url = new URL(a.href, window.location.href);
    if (url.origin !== window.location.origin || isServerPath(url.pathname)) return;
    e.preventDefault();
    navigate(url.pathname + url.search + url.hash);
  };

  return (
    <div
      className="markdown"
      data-testid="markdown"
      onClick={onClick}
      dangerouslySetInnerHTML={{ __html: rendered.html }}
    />
  );
}
