import { useState } from 'react';
import { api, query, type AuditEntry, type Page } from '../api';
import { ErrorNote, Pagination, useLoad } from '../components/ui';
import { useI18n, type MessageKey } from '../i18n';

/** The audit log with filters; `path` is the global or a project's endpoint. */
export function AuditTable({ path, exportable }: { path: string; exportable?: boolean }) {
  const { t, formatTime } = useI18n();
  const [page, setPage] = useState(1);
  const [actor, setActor] = useState('');
  const [action, setAction] = useState('');
  const [resource, setResource] = useState('');
  const [result, setResult] = useState('');
  const filters = { actor: actor || undefined, action: action || undefined, resource: resource || undefined, result: result || undefined };
  const { data, error } = useLoad(() => api<Page<AuditEntry>>('GET', `${path}${query({ page, page_size: 20, ...filters })}`), [path, page, actor, action, resource, result]);
  const reset = (set: (v: string) => void) => (v: string) => {
    set(v);
    setPage(1);
  };
  return (
    <>
      <div className="toolbar filters">
        <label>
          {t('audit.actor')} <input value={actor} onChange={(e) => reset(setActor)(e.target.value)} />
        </label>
        <label>
          {t('audit.action')} <input value={action} onChange={(e) => reset(setAction)(e.target.value)} placeholder="push, pull, delete…" />
        </label>
        <label>
          {t('audit.resource')} <input value={resource} onChange={(e) => reset(setResource)(e.target.value)} />
        </label>
        <label>
          {t('audit.result')}
          <select value={result} onChange={(e) => reset(setResult)(e.target.value)}>
            <option value="">—</option>
            <option value="success">{t('audit.success')}</option>
            <option value="failure">{t('audit.failure')}</option>
          </select>
        </label>
        {exportable && (
          <a className="button" href={`/api/v1/audit-logs/export${query(filters)}`} download>
            {t('audit.export')}
          </a>
        )}
      </div>
      <ErrorNote message={error} />
      {data && data.items.length === 0 && <p className="muted">{t('audit.empty')}</p>}
      {data && data.items.length > 0 && (
        <>
          <table>
            <thead>
              <tr>
                <th scope="col">{t('audit.time')}</th>
                <th scope="col">{t('audit.actor')}</th>
                <th scope="col">{t('audit.action')}</th>
                <th scope="col">{t('audit.resource')}</th>
                <th scope="col">{t('audit.result')}</th>
                <th scope="col">{t('audit.source')}</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((e) => (
                <tr key={e.id}>
                  <td>{formatTime(e.time)}</td>
                  <td>{e.actor}</td>
                  <td>{e.action}</td>
                  <td>
                    <code>{e.resource}</code>
                  </td>
                  <td>
                    <span className={`badge status-${e.result === 'success' ? 'succeeded' : 'failed'}`}>{t(`audit.${e.result}` as MessageKey)}</span>
                  </td>
                  <td>{e.sourceIp ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pagination page={page} pageSize={20} total={data.total} onPage={setPage} />
        </>
      )}
    </>
  );
}

export function AuditPage() {
  const { t } = useI18n();
  return (
    <section>
      <div className="page-head">
        <h1>{t('nav.audit')}</h1>
      </div>
      <AuditTable path="/audit-logs" exportable />
    </section>
  );
}
