import { useState } from 'react';
import { api, ApiError, severities, type Severity, type VulnerabilityReport } from '../api';
import { Empty, ErrorNote, useLoad } from '../components/ui';
import { SeverityBadge, severityRank } from '../components/severity';
import { useI18n } from '../i18n';

/** Worst first; the API's order (by id) within a severity. */
const bySeverity = (a: { severity: Severity }, b: { severity: Severity }) => severityRank(b.severity) - severityRank(a.severity);
/** The counts shown always; NONE only when some finding has it. */
const shownCounts = [...severities].reverse().filter((s) => s !== 'NONE');

/** A 404 is an artifact not scanned yet: a state of the page, not an error. */
function notScanned(err: unknown): null {
  if (err instanceof ApiError && err.status === 404) return null;
  throw err;
}

/**
 * An artifact's vulnerability report (docs/vulnerabilities.md): counts per severity, the findings,
 * whether the report is current, and a scan on demand for members who may push. An index's report
 * holds its platform images' findings together, as the API scans it.
 */
export function Vulnerabilities({ base, digest, isIndex, canScan }: { base: string; digest: string; isIndex: boolean; canScan: boolean }) {
  const { t, formatTime } = useI18n();
  const path = `${base}/artifacts/${digest}`;
  const { data: loaded, error: loadError } = useLoad(() => api<VulnerabilityReport>('GET', `${path}/vulnerabilities`).catch(notScanned), [path]);
  const [scanned, setScanned] = useState<VulnerabilityReport>();
  const [scanning, setScanning] = useState(false);
  const [error, setError] = useState<string>();
  const report = scanned ?? loaded;
  const scan = async () => {
    setScanning(true);
    setError(undefined);
    try {
      setScanned(await api<VulnerabilityReport>('POST', `${path}/scan`));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setScanning(false);
    }
  };
  const counts = report?.summary ?? {};
  return (
    <section aria-labelledby="vulnerabilities-title">
      <div className="section-head">
        <h2 id="vulnerabilities-title">{t('vulns.title')}</h2>
        {canScan && (report !== undefined || loadError) && (
          <button type="button" onClick={() => void scan()} disabled={scanning}>
            {scanning ? t('vulns.scanning') : t('vulns.scan')}
          </button>
        )}
      </div>
      <ErrorNote message={loadError ?? error} />
      {isIndex && <p className="muted">{t('vulns.index')}</p>}
      {report === undefined && !loadError && <p className="loading">{t('common.loading')}</p>}
      {report === null && (
        <Empty title={t('vulns.notScanned')}>
          <p className="muted">{canScan ? t('vulns.notScannedHelp') : t('vulns.notScannedReadOnly')}</p>
        </Empty>
      )}
      {report && (
        <>
          {report.status === 'failed' ? (
            <p className="note error">{t('vulns.failed', { error: report.error ?? '' })}</p>
          ) : (
            <p className="severity-counts" aria-label={t('vulns.counts')}>
              {shownCounts.map((s) => (
                <SeverityBadge key={s} severity={s} count={counts[s] ?? 0} />
              ))}
              {(counts.NONE ?? 0) > 0 && <SeverityBadge severity="NONE" count={counts.NONE} />}
            </p>
          )}
          <dl className="facts">
            <dt>{t('vulns.scanned')}</dt>
            <dd>{t('vulns.scannedBy', { time: formatTime(report.scannedAt), scanner: report.scanner, ms: Math.round(report.durationMs) })}</dd>
            <dt>{t('vulns.packages')}</dt>
            <dd>{report.packages}</dd>
            <dt>{t('vulns.database')}</dt>
            <dd className={report.current ? undefined : 'stale'}>{t(report.current ? 'vulns.current' : 'vulns.stale', { version: report.dbVersion })}</dd>
          </dl>
          {report.status === 'succeeded' && report.findings.length === 0 && <p className="muted">{t('vulns.none')}</p>}
          {report.findings.length > 0 && <Findings findings={[...report.findings].sort(bySeverity)} />}
        </>
      )}
    </section>
  );
}

function Findings({ findings }: { findings: VulnerabilityReport['findings'] }) {
  const { t } = useI18n();
  return (
    <table className="findings">
      <thead>
        <tr>
          <th scope="col">{t('vulns.id')}</th>
          <th scope="col">{t('vulns.severity')}</th>
          <th scope="col">{t('vulns.package')}</th>
          <th scope="col">{t('vulns.installed')}</th>
          <th scope="col">{t('vulns.fixed')}</th>
        </tr>
      </thead>
      <tbody>
        {findings.map((f) => (
          <tr key={`${f.package.purl}\n${f.id}`}>
            <td>
              <a href={`https://osv.dev/vulnerability/${encodeURIComponent(f.advisories[0] ?? f.id)}`} target="_blank" rel="noreferrer">
                {f.id}
              </a>
              {f.allowlisted && (
                <>
                  {' '}
                  <span className="badge allowlisted" title={t('vulns.allowlistedHelp')}>
                    {t('vulns.allowlisted')}
                  </span>
                </>
              )}
              {f.advisories.some((a) => a !== f.id) && <span className="advisories muted small">{f.advisories.filter((a) => a !== f.id).join(', ')}</span>}
              {f.summary && <span className="advisories muted small">{f.summary}</span>}
            </td>
            <td>
              <SeverityBadge severity={f.severity} />
              {f.cvss && (
                <span className="muted small" title={f.cvss.vector}>
                  {' '}
                  {f.cvss.score.toFixed(1)}
                </span>
              )}
            </td>
            <td>
              {f.package.name} <span className="muted small">{f.package.type}</span>
            </td>
            <td>
              <code>{f.package.version}</code>
            </td>
            <td>{f.fixedVersion ? <code>{f.fixedVersion}</code> : <span className="muted">{t('vulns.noFix')}</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
