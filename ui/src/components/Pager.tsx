// Previous / next buttons and "from–to of total" for any list read a page at a time.
export function Pager({ offset, limit, total, onChange }: { offset: number; limit: number; total: number; onChange: (o: number) => void }) {
  const from = total === 0 ? 0 : offset + 1;
  const to = Math.min(total, offset + limit);
  return (
    <div className="pager">
      <button type="button" className="btn small" disabled={offset === 0} onClick={() => onChange(Math.max(0, offset - limit))}>← Previous</button>
      <span className="muted small">{from.toLocaleString("en-US")}–{to.toLocaleString("en-US")} of {total.toLocaleString("en-US")}</span>
      <button type="button" className="btn small" disabled={offset + limit >= total} onClick={() => onChange(offset + limit)}>Next →</button>
    </div>
  );
}
