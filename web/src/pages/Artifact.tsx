import { useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { api, repoSegment, type ArtifactDetail, type Project } from '../api';
import type { Session } from '../App';
import { platformName } from '../components/artifact-badges';
import { Command, ConfirmButton, ErrorNote, shortDigest, useLoad } from '../components/ui';
import { useI18n } from '../i18n';
import { BestPractices } from './BestPractices';
import { Files } from './Files';
import { Insights } from './Insights';
import { Packages } from './Packages';
import { Signatures } from './Signatures';
import { Vulnerabilities } from './Vulnerabilities';

/** Config media types of container images: what the scanner reads (others are signatures, SBOMs, charts). */
const imageConfigs = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);
/** Filesystem layers (tar, compressed or not): cosign's signatures and attestations have an image config but not these, as the scanner sees. */
const filesystemLayer = /tar/;

export function ArtifactPage({ session }: { session: Session }) {
  const { project = '', repository = '', reference = '' } = useParams();
  // A new artifact (a link to a base image, a platform) mounts afresh: no section asks another repository for this one's digest.
  return <Artifact key={`${project}\n${repository}\n${reference}`} session={session} project={project} repository={repository} reference={reference} />;
}

function Artifact({ session, project, repository, reference }: { session: Session; project: string; repository: string; reference: string }) {
  const { t, formatTime, formatBytes } = useI18n();
  const navigate = useNavigate();
  const segment = repoSegment(project, repository);
  const base = `/projects/${project}/repositories/${segment}`;
  const { data, error, reload } = useLoad(() => api<ArtifactDetail>('GET', `${base}/artifacts/${encodeURIComponent(reference)}`), [project, repository, reference]);
  const { data: projectInfo } = useLoad(() => api<Project>('GET', `/projects/${project}`), [project]);
  const [tag, setTag] = useState('');
  const [tagError, setTagError] = useState<string>();
  const role = projectInfo?.currentUserRole;
  const canPush = session.user.isAdmin || role === 'admin' || role === 'maintainer' || role === 'developer';
  const canDelete = session.user.isAdmin || role === 'admin' || role === 'maintainer';
  if (error) return <ErrorNote message={error} />;
  if (!data) return <p className="loading">{t('common.loading')}</p>;
  const isIndex = data.manifests.length > 0;
  const isImage = data.config !== null && imageConfigs.has(data.config.mediaType) && data.layers.every((l) => filesystemLayer.test(l.mediaType));
  const addTag = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api('POST', `${base}/artifacts/${data.digest}/tags`, { name: tag });
      setTag('');
      setTagError(undefined);
      reload();
    } catch (err) {
      setTagError((err as Error).message);
    }
  };
  return (
    <section>
      <nav className="breadcrumbs" aria-label="Breadcrumb">
        <Link to="/projects">{t('nav.projects')}</Link> / <Link to={`/projects/${project}`}>{project}</Link> / <Link to={`/projects/${project}/repositories/${segment}`}>{repository}</Link> /{' '}
        <span aria-current="page">{shortDigest(data.digest)}</span>
      </nav>
      <div className="page-head">
        <h1>
          {data.repository}
          <code className="subtle">@{shortDigest(data.digest)}</code>
        </h1>
        {canDelete && (
          <ConfirmButton
            label={t('artifact.delete')}
            question={t('artifact.deleteConfirm', { digest: shortDigest(data.digest) })}
            onConfirm={async () => {
              await api('DELETE', `${base}/artifacts/${data.digest}`);
              void navigate(`/projects/${project}/repositories/${segment}`);
            }}
          />
        )}
      </div>
      <dl className="facts">
        <dt>{t('artifact.digest')}</dt>
        <dd>
          <code>{data.digest}</code>
        </dd>
        <dt>{t('artifact.mediaType')}</dt>
        <dd>{data.mediaType}</dd>
        {data.artifactType && (
          <>
            <dt>{t('artifact.artifactType')}</dt>
            <dd>{data.artifactType}</dd>
          </>
        )}
        <dt>{t('artifact.size')}</dt>
        <dd>
          {formatBytes(data.size)} · {t('artifact.total')} {formatBytes(data.totalSize)}
        </dd>
        {data.platform && (
          <>
            <dt>{t('artifact.platform')}</dt>
            <dd>
              {data.platform.os}/{data.platform.architecture}
            </dd>
          </>
        )}
        <dt>{t('artifact.pushed')}</dt>
        <dd>{formatTime(data.pushedAt)}</dd>
        <dt>{t('artifact.pulls')}</dt>
        <dd>{data.lastPulledAt ? t('artifact.pullSummary', { count: data.pullCount, time: formatTime(data.lastPulledAt) }) : `${data.pullCount} · ${t('artifact.neverPulled')}`}</dd>
        <dt>{t('artifact.tags')}</dt>
        <dd className="tags">
          {data.tags.length === 0 && <span className="muted">{t('artifact.untagged')}</span>}
          {data.tags.map((name) => (
            <span key={name} className="tag-item">
              <span className="badge tag">{name}</span>
              {canDelete && (
                <ConfirmButton
                  className="link danger"
                  label={t('artifact.deleteTag', { tag: name })}
                  question={t('artifact.deleteTagConfirm', { tag: name })}
                  onConfirm={async () => {
                    await api('DELETE', `${base}/tags/${encodeURIComponent(name)}`);
                    // The page may be addressed by the tag just deleted: move to the digest.
                    if (reference === name) void navigate(`/projects/${project}/repositories/${segment}/artifacts/${data.digest}`, { replace: true });
                    else reload();
                  }}
                />
              )}
            </span>
          ))}
        </dd>
      </dl>
      {canPush && (
        <form className="inline-form" onSubmit={(e) => void addTag(e)}>
          <label>
            {t('artifact.newTag')} <input value={tag} required pattern="[A-Za-z0-9_][A-Za-z0-9._\-]{0,127}" onChange={(e) => setTag(e.target.value)} />
          </label>
          <button type="submit">{t('artifact.addTag')}</button>
          <ErrorNote message={tagError} />
        </form>
      )}
      <h2>{t('artifact.pull')}</h2>
      <Command text={data.pullCommand} label={t('artifact.pull')} />
      {data.platforms.length > 0 && (
        <>
          <h2>{t('artifact.platforms')}</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">{t('artifact.platform')}</th>
                <th scope="col">{t('artifact.digest')}</th>
                <th scope="col">{t('artifact.size')}</th>
              </tr>
            </thead>
            <tbody>
              {data.platforms.map((m) => (
                <tr key={m.digest}>
                  <td>
                    <Link to={`/projects/${project}/repositories/${segment}/artifacts/${m.digest}`}>{platformName(m)}</Link>
                  </td>
                  <td>
                    <Link to={`/projects/${project}/repositories/${segment}/artifacts/${m.digest}`}>
                      <code>{shortDigest(m.digest)}</code>
                    </Link>
                  </td>
                  <td>{formatBytes(m.size)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      {(isIndex || isImage) && (
        <>
          <Vulnerabilities key={data.digest} base={base} digest={data.digest} isIndex={isIndex} canScan={canPush} />
          {/* Developers and above read the project's policies, as its Security tab shows them. */}
          <Signatures base={base} project={project} digest={data.digest} canReadPolicies={canPush} />
          <Packages key={data.digest} base={base} digest={data.digest} isIndex={isIndex} canAttach={canPush} />
          <Insights key={`insights-${data.digest}`} base={base} digest={data.digest} isIndex={isIndex} history={data.history} />
          <BestPractices key={`lint-${data.digest}`} base={base} digest={data.digest} project={project} isIndex={isIndex} canReadPolicies={canPush} />
          <Files key={`files-${data.digest}`} base={base} digest={data.digest} platforms={data.platforms} />
        </>
      )}
      {data.layers.length > 0 && (
        <>
          <h2>{t('artifact.layers')}</h2>
          <table className="layers">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">{t('artifact.digest')}</th>
                <th scope="col">{t('artifact.mediaType')}</th>
                <th scope="col">{t('artifact.size')}</th>
              </tr>
            </thead>
            <tbody>
              {data.layers.map((l, i) => (
                <tr key={`${l.digest}-${i}`}>
                  <td>{i + 1}</td>
                  <td>
                    <code>{shortDigest(l.digest)}</code>
                  </td>
                  <td className="small">{l.mediaType}</td>
                  <td>{formatBytes(l.size)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      {/* An image's history shows in its Insights, with its layers' sizes. */}
      {data.history.length > 0 && !isImage && (
        <>
          <h2>{t('artifact.history')}</h2>
          <ol className="history">
            {data.history.map((h, i) => (
              <li key={i} className={h.emptyLayer ? 'empty-layer' : undefined}>
                <code>{h.createdBy ?? '—'}</code>
                <span className="muted small"> {formatTime(h.created)}</span>
              </li>
            ))}
          </ol>
        </>
      )}
      <h2>{t('artifact.referrers')}</h2>
      {data.referrers.length === 0 ? (
        <p className="muted">{t('artifact.noReferrers')}</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">{t('artifact.kind')}</th>
              <th scope="col">{t('artifact.artifactType')}</th>
              <th scope="col">{t('artifact.digest')}</th>
              <th scope="col">{t('artifact.size')}</th>
            </tr>
          </thead>
          <tbody>
            {data.referrers.map((r) => (
              <tr key={r.digest}>
                <td>
                  <span className={`badge referrer referrer-${r.kind}`}>{t(`artifact.kind.${r.kind}`)}</span>
                </td>
                <td className="small">{r.artifactType ?? r.mediaType}</td>
                <td>
                  <Link to={`/projects/${project}/repositories/${segment}/artifacts/${r.digest}`}>
                    <code>{shortDigest(r.digest)}</code>
                  </Link>
                </td>
                <td>{formatBytes(r.size)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
