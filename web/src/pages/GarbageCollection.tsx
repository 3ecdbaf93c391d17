import { useState } from 'react';
import { api, query, type Page, type RunStatus } from '../api';
import { ErrorNote, Pagination, RunStatusBadge, isActive, useLoad, usePolling } from '../components/ui';
import { useI18n } from '../i18n';

interface GcRun {
  id: number;
  status: RunStatus;
  dryRun: boolean;
  deleteUntagged: boolean;
  graceHours: number;
  triggeredBy: string;
  phase: string | null;
  manifestsDeleted: number;
  linksDeleted: number;
  blobsDeleted: number;
  bytesFreed: number;
  uploadsExpired: number;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** Garbage collection on demand and its history (docs/lifecycle.md). */
export function GarbageCollection() {
  const { t, formatTime, formatBytes } = useI18n();
  const [page, setPage] = useState(1);
  const [deleteUntagged, setDeleteUntagged] = useState(false);
  const [error, setError] = useState<string>();
  const { data, error: loadError, reload } = useLoad(() => api<Page<GcRun>>('GET', `/system/gc${query({ page, page_size: 10 })}`), [page]);
  const active = data?.items.some(isActive) ?? false;
  usePolling(active, reload);
  const start = async (dryRun: boolean) => {
    setError(undefined);
    try {
      await api('POST', '/system/gc', { dryRun, deleteUntagged });
      reload();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <>
      <h2>{t('gc.title')}</h2>
      <p className="muted">{t('gc.help')}</p>
      <div className="field checkbox">
        <label>
          <input type="checkbox" checked={deleteUntagged} onChange={(e) => setDeleteUntagged(e.target.checked)} /> {t('gc.deleteUntagged')}
        </label>
      </div>
      <div className="buttons left">
        <button type="button" onClick={() => void start(true)} disabled={active}>
          {t('gc.dryRun')}
        </button>
        <button type="button" className="primary" onClick={() => void start(false)} disabled={active}>
          {t('gc.run')}
        </button>
      </div>
      <ErrorNote message={error ?? loadError} />
      {data && data.items.length > 0 && (
        <>
          <table className="gc-runs">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">{t('common.status')}</th>
                <th scope="col">{t('gc.manifests')}</th>
                <th scope="col">{t('gc.blobs')}</th>
                <th scope="col">{t('gc.freed')}</th>
                <th scope="col">{t('run.by')}</th>
                <th scope="col">{t('run.finished')}</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((run) => (
                <tr key={run.id}>
                  <td>{run.id}</td>
                  <td>
                    <RunStatusBadge status={run.status} />
                    {run.dryRun && <span className="badge">{t('run.dryRunBadge')}</span>}
                    {run.status === 'running' && run.phase && <div className="muted small">{t('gc.phase', { phase: run.phase })}</div>}
                    {run.error && <div className="muted small">{run.error}</div>}
                  </td>
                  <td>{run.manifestsDeleted}</td>
                  <td>{run.blobsDeleted}</td>
                  <td>{formatBytes(run.bytesFreed)}</td>
                  <td>{run.triggeredBy}</td>
                  <td>{formatTime(run.finishedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pagination page={page} pageSize={10} total={data.total} onPage={setPage} />
        </>
      )}
    </>
  );
}
