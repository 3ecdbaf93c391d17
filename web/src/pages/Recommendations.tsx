import { Link } from 'react-router';
import { api } from '../api';
import { Empty, ErrorNote, shortDigest, useLoad } from '../components/ui';
import { useI18n } from '../i18n';
import { artifactPath, type ImageRecommendations, type RebuildHints, type Recommendation, type RecommendedImage } from '../recommendations-api';

const imageName = (image: RecommendedImage) => (image.tag ? `${image.repository}:${image.tag}` : `${image.repository}@${shortDigest(image.digest)}`);

/**
 * An image's recommendations (docs/insights.md, "Recommendations"), on its Insights tab: a
 * slimmer base of the same distribution, a newer build of its base with fewer known
 * vulnerabilities, a base whose tag moved on. Only images the viewer may pull are named.
 */
export function ImageRecommendationsPanel({ path }: { path: string }) {
  const { t } = useI18n();
  const { data, error } = useLoad(() => api<ImageRecommendations>('GET', `${path}/recommendations`), [path]);
  return (
    <section aria-labelledby="recommendations-title" className="recommendations">
      <h3 id="recommendations-title">{t('recommendations.title')}</h3>
      <ErrorNote message={error} />
      {!data && !error && <p className="loading">{t('common.loading')}</p>}
      {data && !data.indexed && <p className="muted">{t('recommendations.notIndexed')}</p>}
      {data && data.indexed && data.recommendations.length === 0 && <p className="muted">{t(data.base ? 'recommendations.none' : 'recommendations.noBase')}</p>}
      {data && data.recommendations.length > 0 && (
        <ul className="recommendation-list">
          {data.recommendations.map((r, i) => (
            <RecommendationItem key={`${r.kind}-${i}`} recommendation={r} />
          ))}
        </ul>
      )}
    </section>
  );
}

function RecommendationItem({ recommendation: r }: { recommendation: Recommendation }) {
  const { t, formatBytes } = useI18n();
  const target = <Link to={artifactPath(r.image.repository, r.image.digest)}>{imageName(r.image)}</Link>;
  return (
    <li className={`recommendation ${r.kind}`}>
      <span className="badge">{t(`recommendations.kind.${r.kind}`)}</span>{' '}
      {r.kind === 'slimmer-base' && (
        <>
          {t('recommendations.slimmer', { size: formatBytes(r.savingBytes) })} {target}{' '}
          <span className="muted small">{t('recommendations.slimmerSizes', { base: formatBytes(r.baseBytes), candidate: formatBytes(r.candidateBytes) })}</span>
        </>
      )}
      {r.kind === 'patched-base' && (
        <>
          {target} {t('recommendations.patched', { fewer: r.baseFindings - r.candidateFindings, base: r.baseFindings, candidate: r.candidateFindings })}
          <div className="small cves">
            {t('recommendations.fixes')}{' '}
            {r.fixes.map((f) => (
              <span key={`${f.id}-${f.package}`} className={`badge severity-${f.severity.toLowerCase()}`} title={`${f.severity} · ${f.package}`}>
                {f.id}
              </span>
            ))}
          </div>
        </>
      )}
      {r.kind === 'stale-base' && (
        <>
          {t('recommendations.stale', { tag: `${r.image.repository}:${r.image.tag ?? ''}` })} {target} <span className="muted small">{t('recommendations.builtOn', { digest: shortDigest(r.previousDigest) })}</span>
        </>
      )}
    </li>
  );
}

/**
 * A project's rebuild hints (docs/insights.md, "Rebuild hints"): its tagged images whose base's
 * tag names a newer build than the one they were built on, grouped by base.
 */
export function RebuildHintsPanel({ project }: { project: string }) {
  const { t, formatTime } = useI18n();
  const { data, error } = useLoad(() => api<RebuildHints>('GET', `/projects/${project}/rebuild-hints`), [project]);
  return (
    <section aria-labelledby="rebuild-title">
      <h2 id="rebuild-title">{t('rebuild.title')}</h2>
      <p className="muted">{t('rebuild.help')}</p>
      <ErrorNote message={error} />
      {!data && !error && <p className="loading">{t('common.loading')}</p>}
      {data && data.hints.length === 0 && <Empty title={t('rebuild.none')} />}
      {data?.hints.map((hint) => (
        <article key={`${hint.base.repository}:${hint.base.tag}@${hint.base.previousDigest}`} className="rebuild-hint">
          <h3>
            <Link to={artifactPath(hint.base.repository, hint.base.digest)}>{`${hint.base.repository}:${hint.base.tag}`}</Link>{' '}
            <span className="muted small">{t('rebuild.moved', { from: shortDigest(hint.base.previousDigest), to: shortDigest(hint.base.digest), at: formatTime(new Date(hint.base.movedAt).toISOString()) })}</span>
          </h3>
          <table>
            <thead>
              <tr>
                <th>{t('rebuild.image')}</th>
                <th>{t('rebuild.tags')}</th>
                <th>{t('rebuild.fixed')}</th>
              </tr>
            </thead>
            <tbody>
              {hint.images.map((image) => (
                <tr key={`${image.repository}@${image.digest}`}>
                  <td>
                    <Link to={artifactPath(image.repository, image.digest)}>{`${image.repository}@${shortDigest(image.digest)}`}</Link>
                  </td>
                  <td>{[...image.tags, ...image.indexTags].join(', ') || '—'}</td>
                  <td>{image.fixedVulnerabilities === undefined ? <span className="muted">{t('rebuild.noScan')}</span> : image.fixedVulnerabilities.map((f) => f.id).join(', ') || '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </article>
      ))}
    </section>
  );
}
