// An in-shell link: a plain <a href> that navigates inside the shell on a plain left click and lets the
// browser handle modified clicks (new tab, new window).
import type { MouseEvent, ReactNode } from "react";
import { navigate } from "../../../router";

export function Link({ to, children, className, testId }: { to: string; children: ReactNode; className?: string; testId?: string }) {
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} className={className} onClick={onClick} data-testid={testId}>
      {children}
    </a>
  );
}
