import { useEffect, useId, useRef, type ReactNode } from "react";
import type { JobProgress } from "../bindings";
import { svgDataUrl } from "../lib/format";
import { useJobProgress } from "../lib/progress";
import { pickPath, type FileFilter, type PickPurpose } from "../lib/dialog";
import { useNotifications, useNotify } from "../app/NotificationsContext";

export function EmptyState({ title, children, testId }: { title: string; children?: ReactNode; testId?: string }) {
  return (
    <div className="empty" data-testid={testId}>
      <p className="empty-title">{title}</p>
      {children ? <div className="empty-body">{children}</div> : null}
    </div>
  );
}

export function ProgressBar({ progress, label, onCancel }: { progress: JobProgress | null; label?: string; onCancel?: () => void }) {
  const total = progress?.total ?? null;
  const done = progress?.done ?? 0;
  const ratio = total && total > 0 ? Math.min(1, done / total) : null;
  const text = progress
    ? `${progress.stage}${progress.message ? ` — ${progress.message}` : ""}${total ? ` (${done.toLocaleString("en-US")} / ${total.toLocaleString("en-US")})` : done ? ` (${done.toLocaleString("en-US")})` : ""}`
    : label ?? "Starting…";
  return (
    <div className="progress-wrap">
      <div
        className={`progress${ratio === null ? " indeterminate" : ""}`}
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={ratio === null ? undefined : Math.round(ratio * 100)}
        aria-label={label ?? "progress"}
      >
        <div className="progress-fill" style={{ width: ratio === null ? undefined : `${ratio * 100}%` }} />
      </div>
      <div className="row spread">
        <div className="progress-text muted small">{text}</div>
        {onCancel ? <button type="button" className="btn ghost small" onClick={onCancel}>Cancel</button> : null}
      </div>
    </div>
  );
}

/** A running job's progress bar. It reads the job's progress itself, so progress events re-render
 * only this bar, never the screen that started the job. */
export function JobProgressBar({ job, label, onCancel }: { job: string; label?: string; onCancel?: () => void }) {
  return <ProgressBar progress={useJobProgress(job)} label={label} onCancel={onCancel} />;
}

export function SvgImage({ svg, alt, className }: { svg: string; alt: string; className?: string }) {
  return <img className={className ?? "chart"} src={svgDataUrl(svg)} alt={alt} />;
}

/** Text input for a path plus a "Browse…" button (the native dialog for `purpose`, run by the Rust
 * side, which then accepts the path). Enter calls onSubmit. */
export function PathInput(props: {
  value: string;
  onChange: (v: string) => void;
  onSubmit?: () => void;
  testId: string;
  label: string;
  placeholder?: string;
  purpose: PickPurpose;
  filters?: FileFilter[];
  browseTestId?: string;
}) {
  const id = useId();
  const { showError } = useNotify();
  const inputRef = useRef<HTMLInputElement | null>(null);
  // A long path set from outside (Browse…, a reset) shows its end — the file name — not its start.
  useEffect(() => {
    const el = inputRef.current;
    if (el && document.activeElement !== el) el.scrollLeft = el.scrollWidth;
  }, [props.value]);
  const browse = async () => {
    try {
      const picked = await pickPath(props.purpose, { filters: props.filters, defaultPath: props.value });
      if (picked) props.onChange(picked);
    } catch (e) {
      showError(e);
    }
  };
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <div className="path-input">
        <input
          id={id}
          ref={inputRef}
          type="text"
          className="mono-input"
          title={props.value || undefined}
          data-testid={props.testId}
          value={props.value}
          placeholder={props.placeholder}
          spellCheck={false}
          autoComplete="off"
          onChange={(e) => props.onChange(e.target.value)}
          onBlur={(e) => {
            e.currentTarget.scrollLeft = e.currentTarget.scrollWidth;
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter" && props.onSubmit) {
              e.preventDefault();
              props.onSubmit();
            }
          }}
        />
        <button type="button" className="btn" onClick={() => void browse()} data-testid={props.browseTestId}>
          Browse…
        </button>
      </div>
    </div>
  );
}

export function ErrorBanner() {
  const { error, dismissError } = useNotifications();
  if (!error) return null;
  return (
    <div className="error-banner" role="alert" data-testid="error-banner">
      <span className="error-icon" aria-hidden>!</span>
      <span className="error-text">{error}</span>
      <button type="button" className="btn ghost small" onClick={dismissError} data-testid="error-dismiss" aria-label="Dismiss error">
        Dismiss
      </button>
    </div>
  );
}

export function Notices() {
  const { notices, dismissNotice } = useNotifications();
  if (notices.length === 0) return null;
  return (
    <div className="notices" aria-live="polite">
      {notices.map((n) => (
        <div key={n.id} className="notice" data-testid="notice">
          <span>{n.text}</span>
          <button type="button" className="btn ghost small" aria-label="Dismiss notice" onClick={() => dismissNotice(n.id)}>×</button>
        </div>
      ))}
    </div>
  );
}

/** Labelled select with string options. */
export function Select<T extends string>(props: {
  label: string;
  value: T;
  onChange: (v: T) => void;
  options: { value: T; label: string; disabled?: boolean }[];
  testId?: string;
  disabled?: boolean;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <select
        id={id}
        data-testid={props.testId}
        value={props.value}
        disabled={props.disabled}
        onChange={(e) => props.onChange(e.target.value as T)}
      >
        {props.options.map((o) => (
          <option key={o.value} value={o.value} disabled={o.disabled}>{o.label}</option>
        ))}
      </select>
    </div>
  );
}

/** A name field and a submit button: Enter or the button calls onSubmit (the button is off while the name is blank). */
export function NameForm(props: {
  id: string;
  value: string;
  onChange: (v: string) => void;
  onSubmit: () => void;
  placeholder: string;
  button: string;
  buttonTestId: string;
  buttonClass?: string;
}) {
  return (
    <form
      className="row gap align-end"
      onSubmit={(e) => {
        e.preventDefault();
        props.onSubmit();
      }}
    >
      <div className="field grow">
        <label htmlFor={props.id}>Name</label>
        <input id={props.id} data-testid={props.id} value={props.value} onChange={(e) => props.onChange(e.target.value)} placeholder={props.placeholder} />
      </div>
      <button type="submit" className={props.buttonClass ?? "btn primary"} data-testid={props.buttonTestId} disabled={!props.value.trim()}>{props.button}</button>
    </form>
  );
}
