import { useEffect, useState, type FormEvent } from 'react';
import { api, ApiError, query, type ArtifactPlatform } from '../api';
import { platformName } from '../components/artifact-badges';
import { ErrorNote, shortDigest } from '../components/ui';
import { useI18n } from '../i18n';
import { modeString, type FileEntry, type FileTree } from '../search-api';

/**
 * An image's files (docs/search.md, "File trees"): the merged filesystem as a container sees it
 * (later layers win, whiteouts hide) or one layer's own entries, a directory at a time, or found
 * by name anywhere in the image. Read from the image index: nothing is pulled.
 */
export function Files({ base, digest, platforms }: { base: string; digest: string; platforms: ArtifactPlatform[] }) {
  const { t, formatBytes } = useI18n();
  const images = platforms.filter((p) => p.os !== 'unknown' && p.architecture !== 'unknown');
  const isIndex = platforms.length > 0;
  const [platform, setPlatform] = useState(images[0] ? platformName(images[0]) : undefined);
  const [layer, setLayer] = useState<number>();
  const [path, setPath] = useState('');
  const [filter, setFilter] = useState('');
  const [q, setQ] = useState<string>();
  const [tree, setTree] = useState<FileTree>();
  const [error, setError] = useState<{ code: string; message: string }>();
  const [tick, setTick] = useState(0);

  useEffect(() => {
    if (isIndex && !platform) return undefined;
    let live = true;
    // Finding by name searches the whole image (or layer); browsing lists one directory.
    const params = q === undefined ? { path: path === '' ? '/' : `/${path}`, layer, platform } : { q, layer, platform };
    api<FileTree>('GET', `${base}/artifacts/${digest}/files${query(params)}`).then(
      (value) => {
        if (!live) return;
        setTree(value);
        setError(undefined);
      },
      (err: Error) => {
        if (!live) return;
        setTree(undefined);
        setError({ code: err instanceof ApiError ? err.code : 'ERROR', message: err.message });
      },
    );
    return () => {
      live = false;
    };
  }, [base, digest, platform, layer, path, q, tick, isIndex]);

  const open = (entry: FileEntry) => {
    setQ(undefined);
    setFilter('');
    setPath(entry.type === 'directory' ? entry.path : entry.path.slice(0, Math.max(0, entry.path.lastIndexOf('/'))));
  };
  const find = (e: FormEvent) => {
    e.preventDefault();
    setQ(filter.trim() === '' ? undefined : filter.trim());
  };
  const segments = path === '' ? [] : path.split('/');

  return (
    <section aria-labelledby="files-title" className="files">
      <h2 id="files-title">{t('files.title')}</h2>
      <div className="toolbar filters">
        {isIndex && (
          <label>
            {t('artifact.platform')}
            <select value={platform ?? ''} onChange={(e) => setPlatform(e.target.value)}>
              {images.map((p) => (
                <option key={p.digest} value={platformName(p)}>
                  {platformName(p)}
                </option>
              ))}
            </select>
          </label>
        )}
        <label>
          {t('files.view')}
          <select value={layer === undefined ? 'merged' : String(layer)} onChange={(e) => setLayer(e.target.value === 'merged' ? undefined : Number(e.target.value))}>
            <option value="merged">{t('files.merged')}</option>
            {(tree?.layers ?? []).map((l) => (
              <option key={l.index} value={String(l.index)}>
                {t('files.layerOption', { layer: l.index, digest: shortDigest(l.digest), size: formatBytes(l.uncompressedSize), files: l.files })}
              </option>
            ))}
          </select>
        </label>
        <form className="inline-form" role="search" aria-label={t('files.find')} onSubmit={find}>
          <label>
            {t('files.find')}
            <input type="search" value={filter} placeholder="id_rsa" onChange={(e) => setFilter(e.target.value)} />
          </label>
          <button type="submit">{t('files.findButton')}</button>
        </form>
      </div>
      {error?.code === 'IMAGE_NOT_INDEXED' ? (
        <p className="note">
          {t('files.notIndexed')}{' '}
          <button type="button" className="link" onClick={() => setTick((n) => n + 1)}>
            {t('files.retry')}
          </button>
        </p>
      ) : (
        <ErrorNote message={error?.message} />
      )}
      {!tree && !error && <p className="loading">{t('common.loading')}</p>}
      {tree && (
        <>
          {tree.mode === 'list' ? (
            <nav className="breadcrumbs file-path" aria-label={t('files.path')}>
              <button type="button" className="link" onClick={() => setPath('')}>
                /
              </button>
              {segments.map((s, i) => (
                <span key={i}>
                  {i > 0 && ' / '}
                  {i === segments.length - 1 ? (
                    <span aria-current="page">{s}</span>
                  ) : (
                    <button type="button" className="link" onClick={() => setPath(segments.slice(0, i + 1).join('/'))}>
                      {s}
                    </button>
                  )}
                </span>
              ))}
            </nav>
          ) : (
            <p className="muted">
              {t('files.found', { count: tree.entries.length, q: tree.q ?? '' })}{' '}
              <button
                type="button"
                className="link"
                onClick={() => {
                  setQ(undefined);
                  setFilter('');
                }}
              >
                {t('files.backToBrowsing')}
              </button>
            </p>
          )}
          {tree.layers.some((l) => l.truncated) && <p className="note">{t('files.layerTruncated')}</p>}
          {tree.entries.length === 0 ? (
            <p className="muted">{tree.mode === 'list' ? t('files.emptyDirectory') : t('files.nothingFound')}</p>
          ) : (
            <table className="file-tree">
              <thead>
                <tr>
                  <th scope="col">{tree.mode === 'list' ? t('common.name') : t('files.path')}</th>
                  <th scope="col">{t('artifact.size')}</th>
                  <th scope="col">{t('files.mode')}</th>
                  <th scope="col">{t('files.owner')}</th>
                  <th scope="col">{t('insights.layer')}</th>
                </tr>
              </thead>
              <tbody>
                {tree.entries.map((e) => (
                  <tr key={`${e.path}\n${e.type}`} className={`entry-${e.type}`}>
                    <td>
                      {e.type === 'directory' || tree.mode === 'find' ? (
                        <button type="button" className="link" onClick={() => open(e)}>
                          {tree.mode === 'find' ? `/${e.path}` : `${e.name}/`}
                        </button>
                      ) : (
                        <span>{e.name}</span>
                      )}{' '}
                      {e.linkTarget !== undefined && <span className="muted"> → {e.linkTarget}</span>}
                      {/* A layer's own markers: what it deletes from the layers below. */}
                      {e.type === 'whiteout' && <span className="badge marker">{t('files.whiteout')}</span>}
                      {e.type === 'opaque' && <span className="badge marker">{t('files.opaque')}</span>}
                    </td>
                    <td>{e.type === 'file' ? formatBytes(e.size) : '—'}</td>
                    <td>
                      <code>{e.mode === undefined || e.type === 'whiteout' || e.type === 'opaque' ? '—' : modeString(e.type, e.mode)}</code>
                    </td>
                    <td>{e.uid === undefined || e.type === 'whiteout' || e.type === 'opaque' ? '—' : `${e.uid}:${e.gid ?? 0}`}</td>
                    <td>{e.layer ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {tree.truncated && <p className="muted small">{t('files.truncated', { count: tree.entries.length })}</p>}
        </>
      )}
    </section>
  );
}
