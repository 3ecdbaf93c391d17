import { useState } from 'react';
import { Link } from 'react-router';
import { api, type AttachedSbom, type Sbom } from '../api';
import { CopyButton, ErrorNote, Notice, shortDigest, useLoad } from '../components/ui';
import { useI18n } from '../i18n';

/** The formats Berth generates itself, and so can download from the API. */
const generated = new Set<Sbom['format']>(['spdx', 'cyclonedx']);

/**
 * An artifact's SBOM documents stored in the registry (docs/inventory.md, "SBOMs as OCI
 * referrers"): Berth's referrers and those clients pushed, and "Attach SBOMs" for members who may
 * push. The documents are blobs under /v2, which the console's session does not open: Berth's own
 * are downloaded as the API generates them, the others are named by digest for a registry client.
 */
export function Sboms({ base, digest, isIndex, canAttach }: { base: string; digest: string; isIndex: boolean; canAttach: boolean }) {
  const { t, formatTime, formatBytes } = useI18n();
  const path = `${base}/artifacts/${digest}`;
  const { data, error: loadError, reload } = useLoad(() => api<Sbom[]>('GET', `${path}/sboms`), [path]);
  const [attached, setAttached] = useState<AttachedSbom[]>();
  const [attaching, setAttaching] = useState(false);
  const [error, setError] = useState<string>();
  const attach = async () => {
    setAttaching(true);
    setError(undefined);
    setAttached(undefined);
    try {
      setAttached(await api<AttachedSbom[]>('POST', `${path}/sboms`));
      reload();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setAttaching(false);
    }
  };
  return (
    <section aria-labelledby="sboms-title">
      <div className="section-head">
        <h3 id="sboms-title">{t('sboms.title')}</h3>
        {canAttach && !isIndex && (
          <button type="button" onClick={() => void attach()} disabled={attaching}>
            {attaching ? t('sboms.attaching') : t('sboms.attach')}
          </button>
        )}
      </div>
      <p className="muted small">{isIndex ? t('sboms.index') : t('sboms.help')}</p>
      <ErrorNote message={loadError ?? error} />
      {attached && (
        <Notice>
          {attached.map((a, i) => (
            <span key={a.format}>
              {i > 0 && ' · '}
              {t(a.created ? 'sboms.attached' : 'sboms.alreadyAttached', { format: t(`sboms.format.${a.format}`), digest: shortDigest(a.digest) })}
            </span>
          ))}
        </Notice>
      )}
      {!data && !loadError && <p className="loading">{t('common.loading')}</p>}
      {data?.length === 0 && <p className="muted">{t('sboms.empty')}</p>}
      {data && data.length > 0 && (
        <table className="sboms">
          <thead>
            <tr>
              <th scope="col">{t('sboms.format')}</th>
              <th scope="col">{t('sboms.source')}</th>
              <th scope="col">{t('artifact.size')}</th>
              <th scope="col">{t('common.created')}</th>
              <th scope="col">{t('sboms.document')}</th>
            </tr>
          </thead>
          <tbody>
            {data.map((s) => (
              <tr key={`${s.manifestDigest}\n${s.blobDigest}`}>
                <td>
                  {t(`sboms.format.${s.format}`)}
                  <span className="block muted small">{s.predicateType ?? s.mediaType}</span>
                </td>
                <td>
                  {t(`sboms.source.${s.source}`)}
                  <Link className="block small" to={`${base}/artifacts/${s.manifestDigest}`}>
                    <code>{shortDigest(s.manifestDigest)}</code>
                  </Link>
                </td>
                <td>{formatBytes(s.size)}</td>
                <td>{s.created ? formatTime(s.created) : '—'}</td>
                <td>
                  {s.source === 'berth' && generated.has(s.format) ? (
                    // Same origin: the session cookie goes with the download.
                    <a className="button" href={`/api/v1${path}/sbom?format=${s.format}`} download title={t('sboms.downloadHelp')}>
                      {t('sboms.download')}
                    </a>
                  ) : (
                    <span className="blob" title={t('sboms.blobHelp')}>
                      <code>{shortDigest(s.blobDigest)}</code> <CopyButton text={s.blobDigest} label={t('sboms.blobDigest')} />
                    </span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
