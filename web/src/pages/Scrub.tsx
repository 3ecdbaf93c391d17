import { useState } from 'react';
import { api, query, type Page, type QuarantinedObject, type ScrubRun } from '../api';
import { Empty, ErrorNote, Pagination, RunStatusBadge, isActive, shortDigest, useLoad, usePolling } from '../components/ui';
import { useI18n } from '../i18n';

/** Scrub on demand, its history, and what is quarantined now (docs/lifecycle.md, "Scrub"). */
export function Scrub() {
  const { t } = useI18n();
  const [page, setPage] = useState(1);
  const [error, setError] = useState<string>();
  const { data, error: loadError, reload } = useLoad(() => api<Page<ScrubRun>>('GET', `/system/scrub${query({ page, page_size: 10 })}`), [page]);
  const active = data?.items.some(isActive) ?? false;
  usePolling(active, reload);
  const start = async () => {
    setError(undefined);
    try {
      await api('POST', '/system/scrub', {});
      setPage(1);
      reload();
    } catch (err) {
      // 409 CONFLICT: another run is queued or running (perhaps on another instance).
      setError((err as Error).message);
    }
  };
  // The quarantine changes when a run ends (objects quarantined or released): follow the newest run.
  const newest = data?.items[0];
  return (
    <section aria-labelledby="scrub-title">
      <h2 id="scrub-title">{t('scrub.title')}</h2>
      <p className="muted">{t('scrub.help')}</p>
      <div className="buttons left">
        <button type="button" className="primary" onClick={() => void start()} disabled={active}>
          {t('scrub.run')}
        </button>
      </div>
      <ErrorNote message={error ?? loadError} />
      {data && data.items.length > 0 && (
        <>
          <ScrubRuns runs={data.items} />
          <Pagination page={page} pageSize={10} total={data.total} onPage={setPage} />
        </>
      )}
      <Quarantine version={newest ? `${newest.id}:${newest.status}` : ''} />
    </section>
  );
}

function ScrubRuns({ runs }: { runs: ScrubRun[] }) {
  const { t, formatTime, formatBytes } = useI18n();
  return (
    <table className="scrub-runs">
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">{t('common.status')}</th>
          <th scope="col">{t('scrub.objects')}</th>
          <th scope="col">{t('scrub.bytes')}</th>
          <th scope="col">{t('scrub.corrupt')}</th>
          <th scope="col">{t('scrub.missing')}</th>
          <th scope="col">{t('scrub.released')}</th>
          <th scope="col">{t('run.by')}</th>
          <th scope="col">{t('run.finished')}</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((run) => (
          <tr key={run.id}>
            <td>
              {run.id}
              {run.resumedFrom !== null && <div className="muted small">{t('scrub.continued', { id: run.resumedFrom })}</div>}
            </td>
            <td>
              <RunStatusBadge status={run.status} />
              {run.error && <div className="muted small">{run.error}</div>}
            </td>
            <td>{run.objectsChecked}</td>
            <td>{formatBytes(run.bytesChecked)}</td>
            <td className={run.corrupt > 0 ? 'status-failed' : undefined}>{run.corrupt}</td>
            <td className={run.missing > 0 ? 'status-failed' : undefined}>{run.missing}</td>
            <td>{run.released}</td>
            <td>{run.triggeredBy}</td>
            <td>{formatTime(run.finishedAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Objects never served until pushed again, with the manifests (and their tags) that need them. */
function Quarantine({ version }: { version: string }) {
  const { t, formatTime, formatBytes } = useI18n();
  const [page, setPage] = useState(1);
  const { data, error } = useLoad(() => api<Page<QuarantinedObject>>('GET', `/system/quarantine${query({ page, page_size: 20 })}`), [page, version]);
  return (
    <>
      <h3>{t('scrub.quarantine')}</h3>
      <ErrorNote message={error} />
      {data && data.total === 0 && (
        <Empty title={t('scrub.quarantineEmpty')}>
          <p className="muted">{t('scrub.quarantineEmptyHelp')}</p>
        </Empty>
      )}
      {data && data.total > 0 && (
        <>
          <table className="quarantine">
            <thead>
              <tr>
                <th scope="col">{t('artifact.digest')}</th>
                <th scope="col">{t('scrub.kind')}</th>
                <th scope="col">{t('artifact.size')}</th>
                <th scope="col">{t('scrub.quarantinedAt')}</th>
                <th scope="col">{t('scrub.neededBy')}</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((object) => (
                <tr key={object.digest}>
                  <td>
                    <code title={object.digest}>{shortDigest(object.digest)}</code>
                  </td>
                  <td>
                    <span className="badge status-failed">{t(`scrub.kind.${object.kind}`)}</span>
                  </td>
                  <td>{formatBytes(object.size)}</td>
                  <td>{formatTime(object.quarantinedAt)}</td>
                  <td>
                    {object.dependents.length === 0 ? (
                      <span className="muted">{t('scrub.noDependents')}</span>
                    ) : (
                      <ul className="dependents">
                        {object.dependents.map((d) => (
                          <li key={`${d.repository}@${d.digest}`}>
                            <code title={`${d.repository}@${d.digest}`}>
                              {d.repository}@{shortDigest(d.digest)}
                            </code>{' '}
                            {d.tags.map((tag) => (
                              <span key={tag} className="badge tag">
                                {tag}
                              </span>
                            ))}
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
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
