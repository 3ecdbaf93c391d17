import { useState } from 'react';
import { api, query, type Job, type Page } from '../api';
import type { Session } from '../App';
import { ErrorNote, Notice, Pagination, useLoad } from '../components/ui';
import { useI18n } from '../i18n';
import { Robots } from './Project';
import { SettingsPanel } from './Settings';
import { GarbageCollection } from './GarbageCollection';
import { Scrub } from './Scrub';
import { VulnerabilityDatabase } from './VulnerabilityDatabase';

export function SystemPage({ session }: { session: Session }) {
  const { t, formatTime } = useI18n();
  const [page, setPage] = useState(1);
  const [notice, setNotice] = useState<string>();
  const { data: jobs, error } = useLoad(() => api<Page<Job>>('GET', `/jobs${query({ page, page_size: 15 })}`), [page]);
  const { info } = session;
  const methods = Object.entries(info.authentication)
    .filter(([, on]) => on)
    .map(([name]) => name.toUpperCase())
    .join(', ');
  return (
    <section>
      <div className="page-head">
        <h1>{t('system.title')}</h1>
      </div>
      <dl className="facts">
        <dt>{t('system.version')}</dt>
        <dd>{info.version}</dd>
        <dt>{t('system.auth')}</dt>
        <dd>{methods}</dd>
      </dl>
      <div className="buttons left">
        <button
          type="button"
          onClick={async () => {
            const { kid } = await api<{ kid: string }>('POST', '/system/signing-keys/rotate');
            setNotice(t('system.rotated', { kid: kid.slice(0, 12) }));
          }}
        >
          {t('system.rotate')}
        </button>
      </div>
      {notice && <Notice>{notice}</Notice>}
      <GarbageCollection />
      <Scrub />
      <VulnerabilityDatabase />
      <SettingsPanel />
      <h2>{t('project.robots')}</h2>
      <Robots project={null} />
      <h2>{t('system.jobs')}</h2>
      <ErrorNote message={error} />
      {jobs && (
        <>
          <table>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">{t('system.type')}</th>
                <th scope="col">{t('common.status')}</th>
                <th scope="col">{t('system.attempts')}</th>
                <th scope="col">{t('common.created')}</th>
              </tr>
            </thead>
            <tbody>
              {jobs.items.map((j) => (
                <tr key={j.id}>
                  <td>{j.id}</td>
                  <td>{j.type}</td>
                  <td>
                    <span className={`badge status-${j.status}`}>{j.status}</span>
                    {j.lastError && <div className="muted small">{j.lastError}</div>}
                  </td>
                  <td>
                    {j.attempts}/{j.maxAttempts}
                  </td>
                  <td>{formatTime(j.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pagination page={page} pageSize={15} total={jobs.total} onPage={setPage} />
        </>
      )}
    </section>
  );
}
