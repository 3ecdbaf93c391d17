import { useState, type FormEvent } from 'react';
import { api, type ProjectQuota } from '../api';
import { LimitFields, draftLimits, limitsDraft } from '../components/quota';
import { ErrorNote, Notice, useLoad } from '../components/ui';
import { useI18n } from '../i18n';

/** A project's usage against its limits; system administrators change the limits (docs/lifecycle.md, "Quotas"). */
export function Quota({ project, canEdit }: { project: string; canEdit: boolean }) {
  const { t, formatBytes } = useI18n();
  const { data, error, reload } = useLoad(() => api<ProjectQuota>('GET', `/projects/${project}/quota`), [project]);
  return (
    <section aria-labelledby="quota-title">
      <h2 id="quota-title">{t('quota.title')}</h2>
      <p className="muted">{t('quota.help')}</p>
      <ErrorNote message={error} />
      {data && (
        <>
          <div className="usage">
            <UsageBar label={t('quota.storage')} used={data.usage.storageBytes} limit={data.limits.storageBytes} format={formatBytes} />
            <UsageBar label={t('quota.artifacts')} used={data.usage.artifacts} limit={data.limits.artifacts} format={String} />
          </div>
          {canEdit ? <QuotaForm key={data.project} quota={data} onSaved={reload} /> : <p className="muted small">{t('quota.adminOnly')}</p>}
        </>
      )}
    </section>
  );
}

/** Usage as a bar: a warning colour from 80% of the limit, an error colour at or over it. */
function UsageBar({ label, used, limit, format }: { label: string; used: number; limit: number | null; format: (n: number) => string }) {
  const { t } = useI18n();
  // A limit of 0 with nothing used is full: the next push is refused.
  const percent = limit === null ? 0 : limit === 0 ? 100 : Math.floor((used / limit) * 100);
  const level = limit === null ? '' : percent >= 100 ? 'error' : percent >= 80 ? 'warning' : '';
  const text = limit === null ? t('quota.usedUnlimited', { used: format(used) }) : t('quota.usedOf', { used: format(used), limit: format(limit), percent });
  return (
    <div className={`usage-bar ${level}`.trim()}>
      <div className="usage-head">
        <span className="usage-label">{label}</span>
        <span className="usage-text">{text}</span>
      </div>
      <div className="bar" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.min(percent, 100)} aria-valuetext={text}>
        <div className="fill" style={{ width: `${Math.min(percent, 100)}%` }} />
      </div>
    </div>
  );
}

function QuotaForm({ quota, onSaved }: { quota: ProjectQuota; onSaved: () => void }) {
  const { t } = useI18n();
  const [draft, setDraft] = useState(() => limitsDraft(quota.limits));
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setNotice(undefined);
    try {
      const stored = await api<ProjectQuota>('PUT', `/projects/${quota.project}/quota`, draftLimits(draft));
      setDraft(limitsDraft(stored.limits));
      setNotice(t('quota.saved'));
      onSaved();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <form onSubmit={(e) => void save(e)} className="settings">
      <LimitFields draft={draft} onChange={setDraft} />
      <ErrorNote message={error} />
      {notice && <Notice>{notice}</Notice>}
      <div className="buttons left">
        <button type="submit" className="primary">
          {t('common.save')}
        </button>
      </div>
    </form>
  );
}
