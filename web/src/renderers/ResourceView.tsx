// Picks the renderer for a resource by MIME type. One module per renderer; the ones not built yet show a card.
import type { Resource, SymphonyInfo } from "../api";
import { MarkdownView } from "./MarkdownView";

interface Props {
  resource: Resource;
  info: SymphonyInfo | null;
}

export function baseMime(mime: string): string {
  return mime.split(";")[0].trim().toLowerCase();
}

export function ResourceView({ resource, info }: Props) {
  switch (baseMime(resource.mime_type)) {
    case "text/markdown":
      return <MarkdownView content={resource.content} info={info} />;
    default:
      return (
        <div className="card card-muted" data-testid="renderer-missing">
          <h3>
            <i className="fa-solid fa-person-digging" /> renderer not built yet: {resource.mime_type}
          </h3>
          <p>
            The resource <code>{resource.uri}</code> is of a type this shell cannot display yet.
          </p>
        </div>
      );
  }
}
