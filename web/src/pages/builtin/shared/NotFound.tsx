// The card a built-in page shows for a path below it that it does not serve.
import { Link } from "./Link";

export function NotFound({ path, what, back }: { path: string; what: string; back: [string, string] }) {
  return (
    <div className="card card-muted" data-testid="not-found">
      <h3>No page at {path}</h3>
      <p className="muted">{what}</p>
      <Link to={back[0]} className="btn">
        <i className="fa-solid fa-arrow-left" aria-hidden="true" /> {back[1]}
      </Link>
    </div>
  );
}
