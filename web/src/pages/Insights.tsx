import { Link } from 'react-router';
import { api, repoSegment, type ArtifactDetail, type ImageInsights } from '../api';
import { ErrorNote, shortDigest, useLoad } from '../components/ui';
import { useI18n } from '../i18n';
import { ImageRecommendationsPanel } from './Recommendations';

/**
 * Efficiency as a percentage with one decimal, rounded down so that an image with any wasted byte
 * never reads 100 % (docs/insights.md, "Wasted space and efficiency").
 */
export const efficiencyPercent = (efficiency: number) => `${(Math.floor(efficiency * 1000) / 10).toFixed(1)}%`;

/** The console's page of an artifact named by its full repository name (`project/name`). */
function artifactLink(repository: string, digest: string): string {
  const project = repository.split('/')[0] ?? repository;
  return `/projects/${project}/repositories/${repoSegment(project, repository)}/artifacts/${digest}`;
}

/**
 * An image's insights (docs/insights.md): the `docker history` view with each step's layer sizes,
 * a chart of the layers' sizes, the bytes later layers waste and the efficiency score, and the
 * base image it was built from. An index has none of its own, as the API refuses it.
 */
export function Insights({ base, digest, isIndex, history }: { base: string; digest: string; isIndex: boolean; history: ArtifactDetail['history'] }) {
  const { t } = useI18n();
  const path = `${base}/artifacts/${digest}`;
  const { data, error } = useLoad(() => (isIndex ? Promise.resolve(undefined) : api<ImageInsights>('GET', `${path}/insights`)), [path, isIndex]);
  return (
    <section aria-labelledby="insights-title">
      <h2 id="insights-title">{t('insights.title')}</h2>
      {isIndex ? (
        <p className="muted">{t('insights.index')}</p>
      ) : (
        <>
          <ErrorNote message={error} />
          {!data && !error && <p className="loading">{t('common.loading')}</p>}
          {data && <Report report={data} />}
          <ImageRecommendationsPanel path={path} />
          {/* The history is the artifact's own, shown at once; the report adds each step's layer and sizes. */}
          {!data && history.length > 0 && (
            <>
              <h3>{t('insights.history')}</h3>
              <History steps={history.map((h, index) => ({ ...h, index, comment: null, layer: null }))} />
            </>
          )}
        </>
      )}
    </section>
  );
}

function Report({ report }: { report: ImageInsights }) {
  const { t, formatBytes } = useI18n();
  const { wasted, base } = report;
  return (
    <>
      <dl className="facts">
        <dt>{t('insights.layers')}</dt>
        <dd>{report.layers.length}</dd>
        <dt>{t('insights.totalCompressed')}</dt>
        <dd>{formatBytes(report.totalCompressed)}</dd>
        <dt>{t('insights.totalUncompressed')}</dt>
        <dd>{formatBytes(report.totalUncompressed)}</dd>
        <dt>{t('insights.wasted')}</dt>
        <dd className="wasted">{t('insights.wastedText', { size: formatBytes(wasted.bytes), bytes: wasted.bytes, files: wasted.files })}</dd>
        <dt>{t('insights.efficiency')}</dt>
        <dd className="efficiency" title={t('insights.efficiencyHelp')}>
          {efficiencyPercent(report.efficiency)}
        </dd>
        <dt>{t('insights.base')}</dt>
        <dd className="base-image">
          {base ? (
            <>
              <Link to={artifactLink(base.repository, base.digest)}>{base.tag ? `${base.repository}:${base.tag}` : `${base.repository}@${shortDigest(base.digest)}`}</Link>{' '}
              <span className="muted small">{t(base.matchedBy === 'layers' ? 'insights.baseByLayers' : 'insights.baseByAnnotation', { layers: base.layers, total: report.layers.length })}</span>
            </>
          ) : (
            <span className="muted">{t('insights.noBase')}</span>
          )}
        </dd>
      </dl>
      {report.layers.length > 0 && <LayerChart layers={report.layers} />}
      <h3>{t('insights.history')}</h3>
      {report.historyMismatch && <p className="note">{t('insights.historyMismatch')}</p>}
      {report.history.length === 0 ? <p className="muted">{t('insights.noHistory')}</p> : <History steps={report.history} report={report} />}
      <h3>{t('insights.largestWasted')}</h3>
      {wasted.largest.length === 0 ? (
        <p className="muted">{t('insights.noWaste')}</p>
      ) : (
        <table className="wasted-files">
          <thead>
            <tr>
              <th scope="col">{t('insights.path')}</th>
              <th scope="col">{t('artifact.size')}</th>
              <th scope="col">{t('insights.layer')}</th>
              <th scope="col">{t('insights.replacedIn')}</th>
            </tr>
          </thead>
          <tbody>
            {wasted.largest.map((w) => (
              <tr key={`${w.path}\n${w.layer}`}>
                <td>
                  <code>{w.path}</code>
                </td>
                <td>{formatBytes(w.bytes)}</td>
                <td>{w.layer}</td>
                <td>{w.replacedIn}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {wasted.files > wasted.largest.length && <p className="muted small">{t('insights.moreWasted', { count: wasted.files - wasted.largest.length })}</p>}
    </>
  );
}

/** One horizontal bar per layer, lowest first: the uncompressed size, the compressed size over it, on one scale. */
function LayerChart({ layers }: { layers: ImageInsights['layers'] }) {
  const { t, formatBytes } = useI18n();
  const max = Math.max(1, ...layers.map((l) => Math.max(l.compressedSize, l.uncompressedSize)));
  // A non-empty layer keeps a sliver of a bar, however small beside the largest.
  const width = (bytes: number) => `${bytes === 0 ? 0 : Math.max(0.5, (bytes / max) * 100)}%`;
  return (
    <figure className="layer-chart">
      <figcaption>
        {t('insights.chart')} <span className="legend compressed">{t('insights.compressed')}</span> <span className="legend uncompressed">{t('insights.uncompressed')}</span>
      </figcaption>
      <ol>
        {layers.map((l) => {
          const label = t('insights.layerBar', { index: l.index, compressed: formatBytes(l.compressedSize), uncompressed: formatBytes(l.uncompressedSize), files: l.files });
          return (
            <li key={l.index} className="layer-bar" title={l.createdBy ?? shortDigest(l.digest)}>
              <span className="layer-name">{t('insights.layerN', { index: l.index })}</span>
              <span className="track" role="img" aria-label={label}>
                <span className="bar uncompressed" style={{ width: width(l.uncompressedSize) }} />
                <span className="bar compressed" style={{ width: width(l.compressedSize) }} />
              </span>
              <span className="layer-size small">
                {formatBytes(l.compressedSize)} / {formatBytes(l.uncompressedSize)}
              </span>
            </li>
          );
        })}
      </ol>
    </figure>
  );
}

/** The config's history steps, as `docker history` lists them but oldest first, with the sizes of the layer each made (once the report says). */
function History({ steps, report }: { steps: ImageInsights['history']; report?: ImageInsights }) {
  const { t, formatBytes, formatTime } = useI18n();
  return (
    <table className="image-history">
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">{t('insights.createdBy')}</th>
          <th scope="col">{t('insights.created')}</th>
          <th scope="col">{t('insights.layer')}</th>
          <th scope="col">{t('insights.compressed')}</th>
          <th scope="col">{t('insights.uncompressed')}</th>
        </tr>
      </thead>
      <tbody>
        {steps.map((h) => {
          const layer = h.layer === null ? undefined : report?.layers[h.layer];
          return (
            <tr key={h.index} className={h.emptyLayer ? 'empty-layer' : undefined}>
              <td>{h.index}</td>
              <td>
                <code className="created-by">{h.createdBy ?? '—'}</code>
                {h.comment && <span className="muted small"> {h.comment}</span>}
              </td>
              <td className="nowrap">{formatTime(h.created)}</td>
              <td>{h.emptyLayer ? <span className="badge">{t('insights.emptyLayer')}</span> : (h.layer ?? '—')}</td>
              <td>{layer ? formatBytes(layer.compressedSize) : '—'}</td>
              <td>{layer ? formatBytes(layer.uncompressedSize) : '—'}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
