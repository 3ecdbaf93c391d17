import { useEffect, useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { api, query, repoSegment, severities, type Severity } from '../api';
import { SeverityBadge } from '../components/severity';
import { Empty, ErrorNote, Field, shortDigest } from '../components/ui';
import { useI18n, type MessageKey } from '../i18n';
import { artifactPath, searchCriteria, type SearchCriterion, type SearchHit, type SearchResult } from '../search-api';

const pageSize = 25;

/** Placeholders that show each criterion's form. */
const examples: Record<SearchCriterion, string> = {
  package: 'openssl',
  version: '3.0.15-1~deb12u1',
  path: '/usr/bin/curl',
  file: 'id_rsa',
  vulnerability: 'CVE-2024-3094',
  base: 'library/debian:12-slim',
  platform: 'linux/arm64',
  label: 'org.opencontainers.image.vendor=ACME',
  digest: 'sha256:4f2a',
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  artifactType: 'application/vnd.cncf.helm.config.v1+json',
};

/**
 * Search across the registry (docs/search.md): every criterion given must hold; the results are
 * what the signed-in user may pull. The criteria live in the address, so a search can be shared.
 */
export function SearchPage() {
  const { t } = useI18n();
  const [params, setParams] = useSearchParams();
  const criteria = Object.fromEntries(searchCriteria.map((c) => [c, params.get(c) ?? ''])) as Record<SearchCriterion, string>;
  const key = searchCriteria.map((c) => criteria[c]).join('\n');
  const [form, setForm] = useState(criteria);
  const [hits, setHits] = useState<SearchHit[]>();
  const [next, setNext] = useState<string>();
  const [base, setBase] = useState<SearchResult['base']>();
  const [error, setError] = useState<string>();
  const [loading, setLoading] = useState(false);
  const asked = searchCriteria.some((c) => criteria[c] !== '');

  const load = async (after: string | undefined) => {
    setLoading(true);
    try {
      const result = await api<SearchResult>('GET', `/search${query({ ...criteria, limit: pageSize, after })}`);
      setHits((before) => (after === undefined ? result.items : [...(before ?? []), ...result.items]));
      setNext(result.next);
      setBase(result.base);
      setError(undefined);
    } catch (err) {
      if (after === undefined) setHits(undefined);
      setError((err as Error).message);
    } finally {
      setLoading(false);
    }
  };

  useEffect(() => {
    setForm(criteria);
    setHits(undefined);
    setNext(undefined);
    if (asked) void load(undefined);
    // The address holds the criteria: a new search is a new address.
  }, [key]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const wanted = new URLSearchParams();
    for (const c of searchCriteria) if (form[c].trim() !== '') wanted.set(c, form[c].trim());
    setParams(wanted);
  };
  const field = (c: SearchCriterion) => (
    <Field key={c} label={t(`search.field.${c}` as MessageKey)}>
      {(id) => <input id={id} name={c} value={form[c]} placeholder={examples[c]} onChange={(e) => setForm({ ...form, [c]: e.target.value })} />}
    </Field>
  );

  return (
    <section>
      <div className="page-head">
        <h1>{t('search.title')}</h1>
      </div>
      <p className="muted">{t('search.help')}</p>
      <form className="search-form" role="search" aria-label={t('search.title')} onSubmit={submit}>
        <div className="rule-grid">{searchCriteria.map(field)}</div>
        <div className="buttons left">
          <button type="submit" className="primary">
            {t('search.submit')}
          </button>
          <button
            type="button"
            onClick={() => {
              setForm(Object.fromEntries(searchCriteria.map((c) => [c, ''])) as Record<SearchCriterion, string>);
              setParams(new URLSearchParams());
            }}
          >
            {t('search.clear')}
          </button>
        </div>
      </form>
      <ErrorNote message={error} />
      {base && (
        <p className="search-base">
          {t('search.builtOn', { layers: base.layers })}{' '}
          <Link to={artifactPath(base.repository, base.digest)}>
            <code>
              {base.repository}@{shortDigest(base.digest)}
            </code>
          </Link>
          {base.index && <span className="muted small"> ({base.index.platform})</span>}
        </p>
      )}
      {!asked && <p className="muted">{t('search.askSomething')}</p>}
      {asked && !hits && loading && <p className="loading">{t('common.loading')}</p>}
      {hits && hits.length === 0 && <Empty title={t('search.none')} />}
      {hits && hits.length > 0 && (
        <>
          <table className="search-results">
            <caption className="visually-hidden">{t('search.results')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('search.repository')}</th>
                <th scope="col">{t('artifact.digest')}</th>
                <th scope="col">{t('artifact.tags')}</th>
                <th scope="col">{t('search.matched')}</th>
              </tr>
            </thead>
            <tbody>
              {hits.map((hit) => (
                <Hit key={`${hit.repository}@${hit.digest}`} hit={hit} />
              ))}
            </tbody>
          </table>
          <p className="muted small">{t('search.shown', { count: hits.length })}</p>
          {next && (
            <button type="button" disabled={loading} onClick={() => void load(next)}>
              {t('search.more')}
            </button>
          )}
        </>
      )}
    </section>
  );
}

function Hit({ hit }: { hit: SearchHit }) {
  const { t, formatBytes } = useI18n();
  const project = hit.repository.split('/')[0] ?? hit.repository;
  const m = hit.matched;
  const labels = Object.entries(m.labels ?? {});
  return (
    <tr>
      <td>
        <Link to={`/projects/${project}/repositories/${repoSegment(project, hit.repository)}`}>{hit.repository}</Link>
      </td>
      <td>
        <Link to={artifactPath(hit.repository, hit.digest)}>
          <code>{shortDigest(hit.digest)}</code>
        </Link>
      </td>
      <td className="tags">
        {hit.tags.map((tag) => (
          <span key={tag} className="badge tag">
            {tag}
          </span>
        ))}
        {hit.indexes.map((index) =>
          index.tags.map((tag) => (
            <Link key={`${index.digest}:${tag}`} to={artifactPath(hit.repository, index.digest)} className="badge tag index-tag" title={t('search.indexTag')}>
              {tag}
            </Link>
          )),
        )}
        {hit.tags.length === 0 && hit.indexes.every((i) => i.tags.length === 0) && <span className="muted">{t('artifact.untagged')}</span>}
      </td>
      <td className="matched">
        <ul>
          {(m.files ?? []).map((f) => (
            <li key={`f:${f.path}`}>
              <code>/{f.path}</code> <span className="muted small">{t('search.inLayer', { layer: f.layer, size: formatBytes(f.size) })}</span>
            </li>
          ))}
          {(m.packages ?? []).map((p) => (
            <li key={`p:${p.type}:${p.name}:${p.version}`}>
              {p.name} <code>{p.version}</code> <span className="muted small">{p.type}</span>
            </li>
          ))}
          {(m.vulnerabilities ?? []).map((v) => (
            <li key={`v:${v.id}:${v.package}`}>
              <SeverityBadge severity={(severities as readonly string[]).includes(v.severity) ? (v.severity as Severity) : 'UNKNOWN'} /> {v.id} <span className="muted small">{v.package}</span>
            </li>
          ))}
          {labels.map(([k, v]) => (
            <li key={`l:${k}`}>
              <code>
                {k}={v}
              </code>
            </li>
          ))}
        </ul>
      </td>
    </tr>
  );
}
