import { useEffect, useState, type FormEvent } from 'react';
import { api, type Page, type ProxyCacheInfo, type RegistryEndpoint } from '../api';
import { ErrorNote, Field, Notice, useLoad } from '../components/ui';
import { useI18n, type MessageKey } from '../i18n';

/**
 * A project's proxy-cache settings and its upstream's health (docs/replication.md, "Proxy
 * cache"): everyone who reads the project sees them; system administrators choose the upstream.
 */
export function ProxyCachePanel({ project, isAdmin, host }: { project: string; isAdmin: boolean; host: string }) {
  const { t, formatTime } = useI18n();
  const { data, error, reload } = useLoad(() => api<ProxyCacheInfo>('GET', `/projects/${project}/proxy-cache`), [project]);
  const { data: endpoints } = useLoad(() => (isAdmin ? api<Page<RegistryEndpoint>>('GET', '/registries') : Promise.resolve(undefined)), [isAdmin]);
  const [endpointId, setEndpointId] = useState('');
  const [ttl, setTtl] = useState('300');
  const [saved, setSaved] = useState(false);
  const [saveError, setSaveError] = useState<string>();
  useEffect(() => {
    setEndpointId(data?.proxyCache ? String(data.proxyCache.endpointId) : '');
    setTtl(String(data?.proxyCache?.ttlSeconds ?? 300));
  }, [data]);
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    setSaveError(undefined);
    try {
      await api('PUT', `/projects/${project}/proxy-cache`, { proxyCache: endpointId ? { endpointId: Number(endpointId), ttlSeconds: Number(ttl) } : null });
      setSaved(true);
      reload();
    } catch (err) {
      setSaveError((err as Error).message);
    }
  };
  const endpoint = endpoints?.items.find((x) => x.id === data?.proxyCache?.endpointId);
  const health = data?.health;
  return (
    <section aria-labelledby="proxy-title">
      <h2 id="proxy-title">{t('proxy.title')}</h2>
      <p className="muted">{t('proxy.help')}</p>
      <ErrorNote message={error} />
      {data && !data.proxyCache && <p>{t('proxy.notProxy')}</p>}
      {data?.proxyCache && (
        <>
          <dl className="facts">
            <dt>{t('proxy.upstream')}</dt>
            <dd>{endpoint ? `${endpoint.name} (${endpoint.url})` : `#${data.proxyCache.endpointId}`}</dd>
            <dt>{t('proxy.ttl')}</dt>
            <dd>{data.proxyCache.ttlSeconds}</dd>
            <dt>{t('proxy.pull')}</dt>
            <dd>
              <code>podman pull {host}/{project}/library/alpine:latest</code>
            </dd>
          </dl>
          {health && (
            <>
              <h3>{t('proxy.health')}</h3>
              <dl className="facts proxy-health">
                <dt>{t('proxy.lastSuccess')}</dt>
                <dd>{formatTime(health.lastSuccessAt)}</dd>
                <dt>{t('proxy.lastFailure')}</dt>
                <dd>
                  {health.lastFailure ? (
                    <>
                      <span className="badge status-failed">{t(`replication.failure.${health.lastFailure.failure}` as MessageKey)}</span> {formatTime(health.lastFailureAt)}
                      <div className="muted small">{health.lastFailure.message}</div>
                    </>
                  ) : (
                    '—'
                  )}
                </dd>
                <dt>{t('proxy.staleServed')}</dt>
                <dd>{health.staleServed}</dd>
              </dl>
              <p className="muted small">{t('proxy.healthNote')}</p>
            </>
          )}
        </>
      )}
      {isAdmin && endpoints && (
        <form onSubmit={(e) => void save(e)} className="inline-form">
          <Field label={t('proxy.upstream')}>
            {(id) => (
              <select id={id} value={endpointId} onChange={(e) => setEndpointId(e.target.value)}>
                <option value="">{t('proxy.none')}</option>
                {endpoints.items.map((x) => (
                  <option key={x.id} value={x.id}>
                    {x.name} ({x.url})
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label={t('proxy.ttl')}>{(id) => <input id={id} type="number" min={0} value={ttl} onChange={(e) => setTtl(e.target.value)} />}</Field>
          <div className="buttons left">
            <button type="submit" className="primary">
              {t('common.save')}
            </button>
          </div>
          <ErrorNote message={saveError} />
          {saved && <Notice>{t('proxy.saved')}</Notice>}
        </form>
      )}
      {!isAdmin && <p className="muted small">{t('proxy.adminOnly')}</p>}
    </section>
  );
}
