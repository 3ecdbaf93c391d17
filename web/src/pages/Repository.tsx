import { useState } from 'react';
import { Link, useParams } from 'react-router';
import { api, query, repoSegment, type Artifact, type Page } from '../api';
import type { Session } from '../App';
import { PlatformChips, ReferrerBadges } from '../components/artifact-badges';
import { Command, ErrorNote, Pagination, shortDigest, useLoad } from '../components/ui';
import { useI18n } from '../i18n';

export function RepositoryPage({ session }: { session: Session }) {
  const { project = '', repository = '' } = useParams();
  const { t, formatTime, formatBytes } = useI18n();
  const [page, setPage] = useState(1);
  // The API's artifact orders: newest push first, or by the highest semantic version among each one's tags.
  const [sort, setSort] = useState<'-pushed_at' | 'semver'>('-pushed_at');
  const full = `${project}/${repository}`;
  const segment = repoSegment(project, repository);
  const { data, error } = useLoad(() => api<Page<Artifact>>('GET', `/projects/${project}/repositories/${segment}/artifacts${query({ page, page_size: 20, sort })}`), [project, repository, page, sort]);
  const host = window.location.host;
  void session;
  return (
    <section>
      <nav className="breadcrumbs" aria-label="Breadcrumb">
        <Link to="/projects">{t('nav.projects')}</Link> / <Link to={`/projects/${project}`}>{project}</Link> / <span aria-current="page">{repository}</span>
      </nav>
      <div className="page-head">
        <h1>{full}</h1>
      </div>
      <Command text={`podman pull ${host}/${full}:<tag>`} label={t('artifact.pull')} />
      <ErrorNote message={error} />
      {data && data.total === 0 && <p className="muted">{t('artifact.empty')}</p>}
      {data && data.total > 0 && (
        <>
          <div className="toolbar filters">
            <label>
              {t('artifact.sort')}
              <select
                value={sort}
                onChange={(e) => {
                  setSort(e.target.value === 'semver' ? 'semver' : '-pushed_at');
                  setPage(1);
                }}
              >
                <option value="-pushed_at">{t('artifact.sort.pushed')}</option>
                <option value="semver">{t('artifact.sort.semver')}</option>
              </select>
            </label>
          </div>
          <table>
            <thead>
              <tr>
                <th scope="col">{t('artifact.digest')}</th>
                <th scope="col">{t('artifact.tags')}</th>
                <th scope="col">{t('artifact.typeOrPlatforms')}</th>
                <th scope="col">{t('artifact.total')}</th>
                <th scope="col">{t('artifact.pulls')}</th>
                <th scope="col">{t('artifact.pushed')}</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((a) => (
                <tr key={a.digest}>
                  <td>
                    <Link to={`/projects/${project}/repositories/${segment}/artifacts/${a.digest}`}>
                      <code>{shortDigest(a.digest)}</code>
                    </Link>
                  </td>
                  <td>
                    {a.tags.length ? a.tags.map((tag) => <span key={tag} className="badge tag">{tag}</span>) : <span className="muted">{t('artifact.untagged')}</span>}
                    <ReferrerBadges referrers={a.referrers} />
                  </td>
                  <td className="small">
                    {/* An index is its platforms; its media type says less. */}
                    {a.platforms.length > 0 ? <PlatformChips platforms={a.platforms} /> : a.artifactType && a.artifactType !== 'application/vnd.oci.image.config.v1+json' ? a.artifactType : a.mediaType}
                  </td>
                  <td>{formatBytes(a.totalSize)}</td>
                  <td title={a.lastPulledAt ? `${t('artifact.lastPulled')}: ${formatTime(a.lastPulledAt)}` : undefined}>{a.pullCount}</td>
                  <td>{formatTime(a.pushedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pagination page={page} pageSize={20} total={data.total} onPage={setPage} />
        </>
      )}
    </section>
  );
}
