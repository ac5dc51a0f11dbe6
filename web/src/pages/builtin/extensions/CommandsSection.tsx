// The commands an extension declares (docs/protocol.md §12.3), each with a Run button: exactly one of its instances
// handles a run, and its answer shows under the table.
import type { Manifest } from "../../../api";
import { CallOutput, runCommand, useCall } from "./Calls";
import { TableSection } from "./Section";

export function CommandsSection({ prefix, manifest }: { prefix: string; manifest: Manifest }) {
  const { busy, result, run } = useCall();
  return (
    <TableSection
      title="Commands"
      testId="commands"
      columns={["Command", "Description", ""]}
      items={manifest.commands ?? []}
      row={(c) => (
        <tr key={c.name} data-testid={`command-${c.name}`}>
          <td>
            <code>{c.name}</code>
          </td>
          <td>{c.description || <span className="muted">—</span>}</td>
          <td>
            <button type="button" className="btn btn-small" disabled={busy} onClick={() => run(() => runCommand(prefix, c.name))}>
              Run
            </button>
          </td>
        </tr>
      )}
    >
      <CallOutput result={result} testId="command-reply" />
    </TableSection>
  );
}
