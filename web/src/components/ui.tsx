import { useCallback, useEffect, useId, useRef, useState, type ReactNode } from 'react';
import type { RunStatus } from '../api';
import { useI18n, type MessageKey } from '../i18n';

/** Loads data with a reload handle; errors become a message instead of a blank page. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | undefined; error: string | undefined; reload: () => void; loading: boolean } {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    load().then(
      (value) => {
        if (!live) return;
        setData(value);
        setError(undefined);
        setLoading(false);
      },
      (err: Error) => {
        if (!live) return;
        setError(err.message);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
    // The caller lists what `load` depends on.
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { data, error, reload, loading };
}

/** Calls `reload` every second while `active` (a run in progress), as long as the page shows it. */
export function usePolling(active: boolean, reload: () => void): void {
  useEffect(() => {
    if (!active) return undefined;
    const timer = setInterval(reload, 1000);
    return () => clearInterval(timer);
  }, [active, reload]);
}

export function ErrorNote({ message }: { message: string | undefined }) {
  const { t } = useI18n();
  if (!message) return null;
  return (
    <p className="note error" role="alert">
      {t('common.error', { message })}
    </p>
  );
}

export function Notice({ children }: { children: ReactNode }) {
  return (
    <p className="note success" role="status">
      {children}
    </p>
  );
}

export function Pagination({ page, pageSize, total, onPage }: { page: number; pageSize: number; total: number; onPage: (page: number) => void }) {
  const { t } = useI18n();
  const pages = Math.max(1, Math.ceil(total / pageSize));
  return (
    <nav className="pagination" aria-label="Pagination">
      <button type="button" onClick={() => onPage(page - 1)} disabled={page <= 1}>
        {t('common.previous')}
      </button>
      <span>
        {t('common.page', { page, pages })} · {t('common.total', { total })}
      </span>
      <button type="button" onClick={() => onPage(page + 1)} disabled={page >= pages}>
        {t('common.next')}
      </button>
    </nav>
  );
}

export function CopyButton({ text, label }: { text: string; label?: string }) {
  const { t } = useI18n();
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Clipboard API needs a secure context; fall back to a hidden textarea.
      const area = document.createElement('textarea');
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand('copy');
      area.remove();
    }
    setCopied(true);
    setTimeout(() => setCopied(false), 1500);
  };
  return (
    <button type="button" className="copy" onClick={() => void copy()} aria-label={`${t('common.copy')} ${label ?? ''}`.trim()}>
      {copied ? t('common.copied') : t('common.copy')}
    </button>
  );
}

export function Command({ text, label }: { text: string; label?: string }) {
  return (
    <div className="command">
      <code>{text}</code>
      <CopyButton text={text} label={label} />
    </div>
  );
}

/** A modal dialog: labelled, focus moves in, Escape closes, focus returns on close. */
export function Dialog({ title, onClose, children }: { title: string; onClose: () => void; children: ReactNode }) {
  const id = useId();
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    const first = ref.current?.querySelector<HTMLElement>('input, select, textarea, button');
    first?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
    };
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('keydown', onKey);
      previous?.focus();
    };
  }, [onClose]);
  return (
    <div className="backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="dialog" role="dialog" aria-modal="true" aria-labelledby={id} ref={ref}>
        <h2 id={id}>{title}</h2>
        {children}
      </div>
    </div>
  );
}

/** A button that asks before doing something destructive. */
export function ConfirmButton({ label, question, onConfirm, className, disabled }: { label: string; question: string; onConfirm: () => Promise<void> | void; className?: string; disabled?: boolean }) {
  const { t } = useI18n();
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<string>();
  const close = useCallback(() => setOpen(false), []);
  return (
    <>
      <button type="button" className={className ?? 'danger'} onClick={() => setOpen(true)} disabled={disabled}>
        {label}
      </button>
      {open && (
        <Dialog title={label} onClose={close}>
          <p>{question}</p>
          <ErrorNote message={error} />
          <div className="buttons">
            <button type="button" onClick={close}>
              {t('common.cancel')}
            </button>
            <button
              type="button"
              className="danger"
              onClick={async () => {
                try {
                  await onConfirm();
                  setOpen(false);
                } catch (err) {
                  setError((err as Error).message);
                }
              }}
            >
              {t('common.confirm')}
            </button>
          </div>
        </Dialog>
      )}
    </>
  );
}

export function Field({ label, children, help }: { label: string; children: (id: string) => ReactNode; help?: string }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children(id)}
      {help && <small>{help}</small>}
    </div>
  );
}

export function Tabs<K extends string>({ tabs, active, onChange, label }: { tabs: Array<{ key: K; label: string }>; active: K; onChange: (key: K) => void; label: string }) {
  const refs = useRef<Record<string, HTMLButtonElement | null>>({});
  // WAI-ARIA tabs: arrow keys move between tabs.
  const onKey = (e: React.KeyboardEvent, index: number) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const next = tabs[(index + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length]!;
    onChange(next.key);
    refs.current[next.key]?.focus();
  };
  return (
    <div className="tabs" role="tablist" aria-label={label}>
      {tabs.map((tab, i) => (
        <button
          key={tab.key}
          type="button"
          role="tab"
          ref={(el) => {
            refs.current[tab.key] = el;
          }}
          aria-selected={tab.key === active}
          tabIndex={tab.key === active ? 0 : -1}
          onClick={() => onChange(tab.key)}
          onKeyDown={(e) => onKey(e, i)}
        >
          {tab.label}
        </button>
      ))}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <p className="empty-title">{title}</p>
      {children}
    </div>
  );
}

export function RoleLabel({ role }: { role: string }) {
  const { t } = useI18n();
  return <span className={`badge role-${role}`}>{t(`role.${role}` as MessageKey)}</span>;
}

/** A background run's status, coloured by outcome. */
export function RunStatusBadge({ status }: { status: RunStatus }) {
  const { t } = useI18n();
  const tone = status === 'succeeded' ? 'succeeded' : status === 'failed' || status === 'interrupted' ? 'failed' : 'pending';
  return <span className={`badge status-${tone}`}>{t(`run.status.${status}`)}</span>;
}

export function isActive(run: { status: RunStatus }): boolean {
  return run.status === 'queued' || run.status === 'running';
}

export function shortDigest(digest: string): string {
  const [algorithm, hex] = digest.split(':');
  return `${algorithm}:${(hex ?? '').slice(0, 12)}`;
}
