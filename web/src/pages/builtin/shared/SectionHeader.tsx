// The heading of a listed section with its Refresh button, and that button on its own.

export function RefreshButton({ onClick, disabled, label = "Refresh" }: { onClick: () => void; disabled?: boolean; label?: string }) {
  return (
    <button type="button" className="btn" onClick={onClick} disabled={disabled}>
      <i className="fa-solid fa-rotate" aria-hidden="true" /> {label}
    </button>
  );
}

export function SectionHeader({ title, onRefresh, refreshing }: { title: string; onRefresh: () => void; refreshing: boolean }) {
  return (
    <div className="bi-toolbar bi-spread">
      <h2>{title}</h2>
      <RefreshButton onClick={onRefresh} disabled={refreshing} />
    </div>
  );
}
