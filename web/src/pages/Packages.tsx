import { useState } from 'react';
import { api, type PackageInventory } from '../api';
import { ErrorNote, useLoad } from '../components/ui';
import { useI18n } from '../i18n';
import { Sboms } from './Sboms';

/**
 * An image's package inventory (docs/inventory.md), with its SBOM to download. An index has none of
 * its own: the API answers for its platform manifests only, so the page says to open one. The SBOMs
 * stored beside the artifact follow.
 */
export function Packages({ base, digest, isIndex, canAttach }: { base: string; digest: string; isIndex: boolean; canAttach: boolean }) {
  const { t } = useI18n();
  return (
    <section aria-labelledby="packages-title">
      <h2 id="packages-title">{t('packages.title')}</h2>
      {isIndex ? <p className="muted">{t('packages.index')}</p> : <Inventory path={`${base}/artifacts/${digest}`} />}
      <Sboms base={base} digest={digest} isIndex={isIndex} canAttach={canAttach} />
    </section>
  );
}

function Inventory({ path }: { path: string }) {
  const { t } = useI18n();
  const { data, error } = useLoad(() => api<PackageInventory>('GET', `${path}/packages`), [path]);
  const [filter, setFilter] = useState('');
  if (error) return <ErrorNote message={error} />;
  if (!data) return <p className="loading">{t('common.loading')}</p>;
  const needle = filter.trim().toLowerCase();
  const shown = needle ? data.packages.filter((p) => p.name.toLowerCase().includes(needle) || (p.license ?? '').toLowerCase().includes(needle) || p.type === needle) : data.packages;
  const os = data.os ? (data.os.prettyName ?? `${data.os.id} ${data.os.versionId ?? ''}`.trim()) : t('packages.osUnknown');
  // Same origin: the session cookie goes with the download.
  const sbom = (format: 'spdx' | 'cyclonedx') => `/api/v1${path}/sbom?format=${format}`;
  return (
    <>
      <dl className="facts">
        <dt>{t('packages.os')}</dt>
        <dd>{os}</dd>
        <dt>{t('packages.sbom')}</dt>
        <dd>
          <a className="button" href={sbom('spdx')} download>
            {t('packages.downloadSpdx')}
          </a>{' '}
          <a className="button" href={sbom('cyclonedx')} download>
            {t('packages.downloadCycloneDx')}
          </a>
        </dd>
      </dl>
      {data.packages.length === 0 ? (
        <p className="muted">{t('packages.empty')}</p>
      ) : (
        <>
          <div className="toolbar">
            <input type="search" aria-label={t('packages.filter')} placeholder={t('packages.filter')} value={filter} onChange={(e) => setFilter(e.target.value)} />
            <span className="muted small">{t('packages.count', { shown: shown.length, total: data.packages.length })}</span>
          </div>
          <table className="packages">
            <thead>
              <tr>
                <th scope="col">{t('common.name')}</th>
                <th scope="col">{t('packages.version')}</th>
                <th scope="col">{t('packages.type')}</th>
                <th scope="col">{t('packages.license')}</th>
                <th scope="col">{t('packages.foundIn')}</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((p) => (
                <tr key={`${p.purl}\n${p.foundIn}`}>
                  <td>{p.name}</td>
                  <td>
                    <code>{p.version}</code>
                  </td>
                  <td>{p.type}</td>
                  <td>{p.license ?? '—'}</td>
                  <td className="small">
                    <code>{p.foundIn}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}
