// The roles a user has, as one checkbox per role.

export function RoleChecks({ names, value, onChange, idPrefix }: { names: string[]; value: string[]; onChange: (v: string[]) => void; idPrefix: string }) {
  if (names.length === 0) return <p className="muted bi-small">Loading roles…</p>;
  return (
    <div className="bi-checks" role="group">
      {names.map((n) => (
        <label className="bi-check" key={n}>
          <input
            type="checkbox"
            name={`${idPrefix}-role`}
            value={n}
            checked={value.includes(n)}
            onChange={(e) => onChange(e.target.checked ? [...value, n] : value.filter((r) => r !== n))}
          />
          <span>{n}</span>
        </label>
      ))}
    </div>
  );
}
