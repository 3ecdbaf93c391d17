import { useState, type FormEvent } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { api, query, type ConnectionCheck, type ExecutionStatus, type Page, type RegistryEndpoint, type RegistryKind, type ReplicationExecution, type ReplicationRule, type ReplicationTask } from '../api';
import { ConfirmButton, Dialog, Empty, ErrorNote, Field, Notice, Pagination, Tabs, shortDigest, useLoad, usePolling } from '../components/ui';
import { useI18n, type MessageKey } from '../i18n';
import { PreheatProviders } from './Preheat';

type Tab = 'endpoints' | 'rules' | 'executions' | 'preheat';

/** Product names are the same in every language; only "any OCI registry" is said in words. */
const kindLabels: Record<Exclude<RegistryKind, 'oci'>, string> = {
  'docker-hub': 'Docker Hub',
  ghcr: 'GitHub Container Registry',
  quay: 'Quay',
  gcr: 'Google Container Registry',
  'artifact-registry': 'Google Artifact Registry',
  ecr: 'Amazon ECR',
  acr: 'Azure Container Registry',
  harbor: 'Harbor',
  berth: 'Berth',
};
/** Kinds whose address is well known: the URL may be left empty. */
const wellKnown = new Set<RegistryKind>(['docker-hub', 'ghcr', 'quay', 'gcr']);

/** Registry endpoints, replication rules and their executions (docs/replication.md), for system administrators. */
export function ReplicationPage() {
  const { t } = useI18n();
  const [params, setParams] = useSearchParams();
  const tab = (params.get('tab') as Tab | null) ?? 'endpoints';
  const tabs: Array<{ key: Tab; label: string }> = [
    { key: 'endpoints', label: t('replication.endpoints') },
    { key: 'rules', label: t('replication.rules') },
    { key: 'executions', label: t('replication.executions') },
    { key: 'preheat', label: t('preheat.providers') },
  ];
  return (
    <section>
      <div className="page-head">
        <h1>{t('replication.title')}</h1>
      </div>
      <p className="muted">{t('replication.help')}</p>
      <Tabs tabs={tabs} active={tab} onChange={(key) => setParams({ tab: key })} label={t('replication.tabs')} />
      <div role="tabpanel">
        {tab === 'endpoints' && <Endpoints />}
        {tab === 'rules' && <Rules />}
        {tab === 'executions' && <Executions ruleId={params.get('rule') ? Number(params.get('rule')) : undefined} />}
        {tab === 'preheat' && <PreheatProviders />}
      </div>
    </section>
  );
}

function kindLabel(kind: RegistryKind, t: (key: MessageKey) => string): string {
  return kind === 'oci' ? t('replication.kind.oci') : kindLabels[kind];
}

function CheckResult({ check }: { check: ConnectionCheck | undefined }) {
  const { t } = useI18n();
  if (!check) return null;
  return (
    <p role="status" className={check.ok ? 'check ok' : 'check failed'}>
      <span className={`badge status-${check.ok ? 'succeeded' : 'failed'}`}>{check.ok ? t('replication.checkOk') : t(`replication.failure.${check.failure ?? 'protocol'}` as MessageKey)}</span> {check.message}
      {check.status !== undefined && ` (HTTP ${check.status})`} · {t('replication.latency', { ms: check.latencyMs })}
    </p>
  );
}

function Endpoints() {
  const { t, formatTime } = useI18n();
  const { data, error, reload } = useLoad(() => api<Page<RegistryEndpoint>>('GET', '/registries'), []);
  const [editing, setEditing] = useState<RegistryEndpoint | 'new'>();
  const [checks, setChecks] = useState<Record<number, ConnectionCheck>>({});
  const [actionError, setActionError] = useState<string>();
  const test = async (endpoint: RegistryEndpoint) => {
    setActionError(undefined);
    try {
      const check = await api<ConnectionCheck>('POST', `/registries/${endpoint.id}/ping`);
      setChecks((c) => ({ ...c, [endpoint.id]: check }));
    } catch (err) {
      setActionError((err as Error).message);
    }
  };
  return (
    <>
      <div className="buttons left">
        <button type="button" className="primary" onClick={() => setEditing('new')}>
          {t('replication.newEndpoint')}
        </button>
      </div>
      <ErrorNote message={error ?? actionError} />
      {data && data.items.length === 0 && <Empty title={t('replication.noEndpoints')}>{<p className="muted">{t('replication.noEndpointsHelp')}</p>}</Empty>}
      {data && data.items.length > 0 && (
        <table className="endpoints">
          <thead>
            <tr>
              <th scope="col">{t('common.name')}</th>
              <th scope="col">{t('replication.kind')}</th>
              <th scope="col">{t('replication.url')}</th>
              <th scope="col">{t('replication.credentials')}</th>
              <th scope="col">{t('common.created')}</th>
              <th scope="col">{t('common.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {data.items.map((endpoint) => (
              <tr key={endpoint.id}>
                <td>
                  {endpoint.name}
                  {endpoint.description && <div className="muted small">{endpoint.description}</div>}
                </td>
                <td>{kindLabel(endpoint.kind, t)}</td>
                <td>
                  <code>{endpoint.url}</code>
                  {endpoint.insecure && <span className="badge status-failed">{t('replication.insecureBadge')}</span>}
                  {endpoint.caCertificate && <span className="badge">{t('replication.caBadge')}</span>}
                </td>
                <td>{endpoint.username ? `${endpoint.username}${endpoint.hasSecret ? ' · ••••' : ''}` : t('replication.anonymous')}</td>
                <td>{formatTime(endpoint.createdAt)}</td>
                <td>
                  <div className="buttons">
                    <button type="button" onClick={() => void test(endpoint)} aria-label={t('replication.testNamed', { name: endpoint.name })}>
                      {t('replication.test')}
                    </button>
                    <button type="button" onClick={() => setEditing(endpoint)} aria-label={t('replication.editNamed', { name: endpoint.name })}>
                      {t('replication.edit')}
                    </button>
                    <ConfirmButton
                      label={t('common.delete')}
                      question={t('replication.deleteEndpoint', { name: endpoint.name })}
                      className="danger"
                      onConfirm={async () => {
                        try {
                          await api('DELETE', `/registries/${endpoint.id}`);
                          reload();
                        } catch (err) {
                          setActionError((err as Error).message);
                        }
                      }}
                    />
                  </div>
                  <CheckResult check={checks[endpoint.id]} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {editing && (
        <EndpointForm
          endpoint={editing === 'new' ? undefined : editing}
          onClose={() => setEditing(undefined)}
          onSaved={() => {
            setEditing(undefined);
            reload();
          }}
        />
      )}
    </>
  );
}

function EndpointForm({ endpoint, onClose, onSaved }: { endpoint: RegistryEndpoint | undefined; onClose: () => void; onSaved: () => void }) {
  const { t } = useI18n();
  const [name, setName] = useState(endpoint?.name ?? '');
  const [kind, setKind] = useState<RegistryKind>(endpoint?.kind ?? 'docker-hub');
  const [url, setUrl] = useState(endpoint?.url ?? '');
  const [description, setDescription] = useState(endpoint?.description ?? '');
  const [username, setUsername] = useState(endpoint?.username ?? '');
  const [secret, setSecret] = useState('');
  const [insecure, setInsecure] = useState(endpoint?.insecure ?? false);
  const [ca, setCa] = useState(endpoint?.caCertificate ?? '');
  const [error, setError] = useState<string>();
  const [check, setCheck] = useState<ConnectionCheck>();
  const settings = () => ({
    kind,
    ...(url.trim() ? { url: url.trim() } : {}),
    username: username.trim() || null,
    ...(secret ? { secret } : {}),
    insecure,
    caCertificate: ca.trim() || null,
  });
  const test = async () => {
    setError(undefined);
    setCheck(undefined);
    try {
      setCheck(await api<ConnectionCheck>('POST', '/registries/ping', settings()));
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      const body = { name: name.trim(), description, ...settings() };
      if (endpoint) await api('PATCH', `/registries/${endpoint.id}`, body);
      else await api('POST', '/registries', body);
      onSaved();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <Dialog title={endpoint ? t('replication.editEndpoint', { name: endpoint.name }) : t('replication.newEndpoint')} onClose={onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <Field label={t('common.name')}>{(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} required autoFocus />}</Field>
        <Field label={t('replication.kind')}>
          {(id) => (
            <select id={id} value={kind} onChange={(e) => setKind(e.target.value as RegistryKind)}>
              {(Object.keys(kindLabels) as RegistryKind[]).concat('oci').map((k) => (
                <option key={k} value={k}>
                  {kindLabel(k, t)}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label={t('replication.url')} help={wellKnown.has(kind) ? t('replication.urlKnown') : t('replication.urlHelp')}>
          {(id) => <input id={id} value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://registry.example.com" required={!wellKnown.has(kind)} />}
        </Field>
        <Field label={t('replication.description')}>{(id) => <input id={id} value={description} onChange={(e) => setDescription(e.target.value)} />}</Field>
        <Field label={t('replication.username')}>{(id) => <input id={id} value={username} onChange={(e) => setUsername(e.target.value)} autoComplete="off" />}</Field>
        <Field label={t('replication.secret')} help={endpoint?.hasSecret ? t('replication.secretKept') : t('replication.secretHelp')}>
          {(id) => <input id={id} type="password" value={secret} onChange={(e) => setSecret(e.target.value)} autoComplete="new-password" />}
        </Field>
        <Field label={t('replication.ca')} help={t('replication.caHelp')}>
          {(id) => <textarea id={id} rows={4} value={ca} onChange={(e) => setCa(e.target.value)} placeholder="-----BEGIN CERTIFICATE-----" />}
        </Field>
        <div className="field checkbox">
          <label>
            <input type="checkbox" checked={insecure} onChange={(e) => setInsecure(e.target.checked)} /> {t('replication.insecure')}
          </label>
        </div>
        <ErrorNote message={error} />
        <CheckResult check={check} />
        <div className="buttons">
          <button type="button" onClick={() => void test()}>
            {t('replication.test')}
          </button>
          <button type="button" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" className="primary">
            {t('common.save')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function triggerText(rule: ReplicationRule, t: (key: MessageKey, vars?: Record<string, string | number>) => string): string {
  if (rule.trigger === 'cron') return t('replication.trigger.cronAt', { cron: rule.cron ?? '' });
  return t(`replication.trigger.${rule.trigger}` as MessageKey);
}

function Rules() {
  const { t, formatBytes } = useI18n();
  const { data, error, reload } = useLoad(() => api<Page<ReplicationRule>>('GET', '/replication/policies'), []);
  const { data: endpoints } = useLoad(() => api<Page<RegistryEndpoint>>('GET', '/registries'), []);
  const [editing, setEditing] = useState<ReplicationRule | 'new'>();
  const [notice, setNotice] = useState<string>();
  const [actionError, setActionError] = useState<string>();
  const endpointName = (id: number) => endpoints?.items.find((e) => e.id === id)?.name ?? `#${id}`;
  const run = async (rule: ReplicationRule) => {
    setActionError(undefined);
    try {
      const execution = await api<ReplicationExecution>('POST', '/replication/executions', { policyId: rule.id });
      setNotice(t('replication.startedNotice', { id: execution.id, name: rule.name }));
    } catch (err) {
      setActionError((err as Error).message);
    }
  };
  return (
    <>
      <div className="buttons left">
        <button type="button" className="primary" onClick={() => setEditing('new')} disabled={!endpoints || endpoints.items.length === 0}>
          {t('replication.newRule')}
        </button>
      </div>
      {endpoints && endpoints.items.length === 0 && <p className="muted">{t('replication.needEndpoint')}</p>}
      {notice && (
        <Notice>
          {notice} <Link to="/replication?tab=executions">{t('replication.seeExecutions')}</Link>
        </Notice>
      )}
      <ErrorNote message={error ?? actionError} />
      {data && data.items.length === 0 && <Empty title={t('replication.noRules')} />}
      {data && data.items.length > 0 && (
        <table className="rules">
          <thead>
            <tr>
              <th scope="col">{t('common.name')}</th>
              <th scope="col">{t('replication.direction')}</th>
              <th scope="col">{t('replication.endpoint')}</th>
              <th scope="col">{t('replication.filters')}</th>
              <th scope="col">{t('replication.destination')}</th>
              <th scope="col">{t('replication.trigger')}</th>
              <th scope="col">{t('common.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {data.items.map((rule) => (
              <tr key={rule.id}>
                <td>
                  {rule.name}
                  {!rule.enabled && <span className="badge">{t('replication.disabled')}</span>}
                  {rule.description && <div className="muted small">{rule.description}</div>}
                </td>
                <td>{t(`replication.direction.${rule.direction}`)}</td>
                <td>{endpointName(rule.endpointId)}</td>
                <td>
                  <code>{rule.repositories}</code> : <code>{rule.tags}</code>
                  {rule.artifactTypes && <div className="muted small">{t('replication.artifactTypes')}: {rule.artifactTypes.join(', ')}</div>}
                  {rule.labels && <div className="muted small">{t('replication.labels')}: {rule.labels.join(', ')}</div>}
                </td>
                <td>
                  {rule.destinationNamespace ? <code>{rule.destinationNamespace}/…</code> : <span className="muted">{t('replication.sameName')}</span>}
                  {rule.flatten !== 0 && <div className="muted small">{t('replication.flattenShort', { n: rule.flatten })}</div>}
                  {rule.bandwidthKiB !== null && <div className="muted small">{t('replication.bandwidthShort', { rate: formatBytes(rule.bandwidthKiB * 1024) })}</div>}
                </td>
                <td>
                  {triggerText(rule, t)}
                  {rule.replicateDeletion && <div className="muted small">{t('replication.deletionsToo')}</div>}
                </td>
                <td>
                  <div className="buttons">
                    <button type="button" onClick={() => void run(rule)} aria-label={t('replication.runNamed', { name: rule.name })}>
                      {t('replication.run')}
                    </button>
                    <Link to={`/replication?tab=executions&rule=${rule.id}`}>{t('replication.history')}</Link>
                    <button type="button" onClick={() => setEditing(rule)} aria-label={t('replication.editNamed', { name: rule.name })}>
                      {t('replication.edit')}
                    </button>
                    <ConfirmButton
                      label={t('common.delete')}
                      question={t('replication.deleteRule', { name: rule.name })}
                      className="danger"
                      onConfirm={async () => {
                        try {
                          await api('DELETE', `/replication/policies/${rule.id}`);
                          reload();
                        } catch (err) {
                          setActionError((err as Error).message);
                        }
                      }}
                    />
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {editing && endpoints && (
        <RuleForm
          rule={editing === 'new' ? undefined : editing}
          endpoints={endpoints.items}
          onClose={() => setEditing(undefined)}
          onSaved={() => {
            setEditing(undefined);
            reload();
          }}
        />
      )}
    </>
  );
}

const list = (text: string) =>
  text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);

function RuleForm({ rule, endpoints, onClose, onSaved }: { rule: ReplicationRule | undefined; endpoints: RegistryEndpoint[]; onClose: () => void; onSaved: () => void }) {
  const { t } = useI18n();
  const [name, setName] = useState(rule?.name ?? '');
  const [description, setDescription] = useState(rule?.description ?? '');
  const [endpointId, setEndpointId] = useState(rule?.endpointId ?? endpoints[0]!.id);
  const [direction, setDirection] = useState<'pull' | 'push'>(rule?.direction ?? 'pull');
  const [repositories, setRepositories] = useState(rule?.repositories ?? '');
  const [tags, setTags] = useState(rule?.tags ?? '**');
  const [artifactTypes, setArtifactTypes] = useState((rule?.artifactTypes ?? []).join(', '));
  const [labels, setLabels] = useState((rule?.labels ?? []).join(', '));
  const [namespace, setNamespace] = useState(rule?.destinationNamespace ?? '');
  const [flatten, setFlatten] = useState(String(rule?.flatten ?? 0));
  const [trigger, setTrigger] = useState<ReplicationRule['trigger']>(rule?.trigger ?? 'manual');
  const [cron, setCron] = useState(rule?.cron ?? '0 * * * *');
  const [copyReferrers, setCopyReferrers] = useState(rule?.copyReferrers ?? true);
  const [bandwidth, setBandwidth] = useState(rule?.bandwidthKiB === null || rule?.bandwidthKiB === undefined ? '' : String(rule.bandwidthKiB));
  const [replicateDeletion, setReplicateDeletion] = useState(rule?.replicateDeletion ?? false);
  const [enabled, setEnabled] = useState(rule?.enabled ?? true);
  const [error, setError] = useState<string>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    const body = {
      name: name.trim(),
      description,
      endpointId,
      direction,
      repositories: repositories.trim(),
      tags: tags.trim() || '**',
      artifactTypes: list(artifactTypes),
      labels: list(labels),
      destinationNamespace: namespace.trim() || null,
      flatten: Number(flatten),
      trigger,
      cron: trigger === 'cron' ? cron.trim() : null,
      copyReferrers,
      bandwidthKiB: bandwidth.trim() ? Number(bandwidth) : null,
      replicateDeletion: trigger === 'event' && replicateDeletion,
      enabled,
    };
    try {
      if (rule) await api('PATCH', `/replication/policies/${rule.id}`, body);
      else await api('POST', '/replication/policies', body);
      onSaved();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <Dialog title={rule ? t('replication.editRule', { name: rule.name }) : t('replication.newRule')} onClose={onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <Field label={t('common.name')}>{(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} required autoFocus />}</Field>
        <Field label={t('replication.description')}>{(id) => <input id={id} value={description} onChange={(e) => setDescription(e.target.value)} />}</Field>
        <Field label={t('replication.direction')}>
          {(id) => (
            <select id={id} value={direction} onChange={(e) => setDirection(e.target.value as 'pull' | 'push')}>
              <option value="pull">{t('replication.direction.pull')}</option>
              <option value="push">{t('replication.direction.push')}</option>
            </select>
          )}
        </Field>
        <Field label={t('replication.endpoint')}>
          {(id) => (
            <select id={id} value={endpointId} onChange={(e) => setEndpointId(Number(e.target.value))}>
              {endpoints.map((endpoint) => (
                <option key={endpoint.id} value={endpoint.id}>
                  {endpoint.name} ({endpoint.url})
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label={t('replication.repositories')} help={t('replication.repositoriesHelp')}>
          {(id) => <input id={id} value={repositories} onChange={(e) => setRepositories(e.target.value)} placeholder="library/**" required />}
        </Field>
        <Field label={t('replication.tags')} help={t('replication.tagsHelp')}>
          {(id) => <input id={id} value={tags} onChange={(e) => setTags(e.target.value)} placeholder="v*" />}
        </Field>
        <Field label={t('replication.artifactTypes')} help={t('replication.artifactTypesHelp')}>
          {(id) => <input id={id} value={artifactTypes} onChange={(e) => setArtifactTypes(e.target.value)} placeholder="image, index" />}
        </Field>
        <Field label={t('replication.labels')} help={t('replication.labelsHelp')}>
          {(id) => <input id={id} value={labels} onChange={(e) => setLabels(e.target.value)} placeholder="team=payments" />}
        </Field>
        <Field label={t('replication.namespace')} help={t('replication.namespaceHelp')}>
          {(id) => <input id={id} value={namespace} onChange={(e) => setNamespace(e.target.value)} placeholder="mirror" />}
        </Field>
        <Field label={t('replication.flatten')} help={t('replication.flattenHelp')}>
          {(id) => <input id={id} type="number" min={-1} max={16} value={flatten} onChange={(e) => setFlatten(e.target.value)} />}
        </Field>
        <Field label={t('replication.trigger')}>
          {(id) => (
            <select id={id} value={trigger} onChange={(e) => setTrigger(e.target.value as ReplicationRule['trigger'])}>
              <option value="manual">{t('replication.trigger.manual')}</option>
              <option value="cron">{t('replication.trigger.cron')}</option>
              <option value="event">{t('replication.trigger.event')}</option>
            </select>
          )}
        </Field>
        {trigger === 'cron' && (
          <Field label={t('replication.cron')} help={t('replication.cronHelp')}>
            {(id) => <input id={id} value={cron} onChange={(e) => setCron(e.target.value)} required />}
          </Field>
        )}
        <Field label={t('replication.bandwidth')} help={t('replication.bandwidthHelp')}>
          {(id) => <input id={id} type="number" min={1} value={bandwidth} onChange={(e) => setBandwidth(e.target.value)} />}
        </Field>
        <div className="field checkbox">
          <label>
            <input type="checkbox" checked={copyReferrers} onChange={(e) => setCopyReferrers(e.target.checked)} /> {t('replication.copyReferrers')}
          </label>
        </div>
        {trigger === 'event' && (
          <div className="field checkbox">
            <label>
              <input type="checkbox" checked={replicateDeletion} onChange={(e) => setReplicateDeletion(e.target.checked)} /> {t('replication.replicateDeletion')}
            </label>
          </div>
        )}
        <div className="field checkbox">
          <label>
            <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> {t('replication.enabled')}
          </label>
        </div>
        <ErrorNote message={error} />
        <div className="buttons">
          <button type="button" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" className="primary">
            {t('common.save')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function ExecutionBadge({ status }: { status: ExecutionStatus }) {
  const { t } = useI18n();
  const tone = status === 'succeeded' ? 'succeeded' : status === 'failed' ? 'failed' : 'pending';
  return <span className={`badge status-${tone}`}>{t(`replication.status.${status}`)}</span>;
}

const running = (e: ReplicationExecution) => e.status === 'queued' || e.status === 'running' || e.status === 'stopping';

function Executions({ ruleId }: { ruleId: number | undefined }) {
  const { t, formatTime, formatBytes } = useI18n();
  const [page, setPage] = useState(1);
  const { data, error, reload } = useLoad(() => api<Page<ReplicationExecution>>('GET', `/replication/executions${query({ policy_id: ruleId, page, page_size: 20 })}`), [page, ruleId]);
  const { data: rules } = useLoad(() => api<Page<ReplicationRule>>('GET', '/replication/policies'), []);
  usePolling(data?.items.some(running) ?? false, reload);
  const ruleName = (id: number) => rules?.items.find((r) => r.id === id)?.name ?? `#${id}`;
  return (
    <>
      {ruleId !== undefined && (
        <p>
          {t('replication.onlyRule', { name: ruleName(ruleId) })} <Link to="/replication?tab=executions">{t('replication.allRules')}</Link>
        </p>
      )}
      <ErrorNote message={error} />
      {data && data.items.length === 0 && <Empty title={t('replication.noExecutions')} />}
      {data && data.items.length > 0 && (
        <>
          <table className="executions">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">{t('replication.rule')}</th>
                <th scope="col">{t('common.status')}</th>
                <th scope="col">{t('replication.trigger')}</th>
                <th scope="col">{t('replication.tasks')}</th>
                <th scope="col">{t('replication.bytes')}</th>
                <th scope="col">{t('replication.started')}</th>
                <th scope="col">{t('run.finished')}</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((execution) => (
                <tr key={execution.id}>
                  <td>
                    <Link to={`/replication/executions/${execution.id}`} aria-label={t('replication.executionNamed', { id: execution.id })}>
                      {execution.id}
                    </Link>
                  </td>
                  <td>{ruleName(execution.ruleId)}</td>
                  <td>
                    <ExecutionBadge status={execution.status} />
                    {execution.error && <div className="muted small">{execution.error}</div>}
                  </td>
                  <td>{execution.retryOf !== null ? t('replication.retryOf', { id: execution.retryOf }) : t(`replication.trigger.${execution.trigger}` as MessageKey)}</td>
                  <td>{t('replication.taskCounts', execution.tasks)}</td>
                  <td>{formatBytes(execution.bytes)}</td>
                  <td>{formatTime(execution.startedAt)}</td>
                  <td>{formatTime(execution.finishedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pagination page={page} pageSize={20} total={data.total} onPage={setPage} />
        </>
      )}
    </>
  );
}

/** One execution with a row per artifact: what was copied, skipped or failed, and why. */
export function ExecutionPage() {
  const { t, formatTime, formatBytes } = useI18n();
  const { id } = useParams();
  const [actionError, setActionError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const { data: execution, error, reload } = useLoad(() => api<ReplicationExecution>('GET', `/replication/executions/${id}`), [id]);
  const { data: tasks, reload: reloadTasks } = useLoad(() => api<Page<ReplicationTask>>('GET', `/replication/executions/${id}/tasks`), [id]);
  usePolling(execution ? running(execution) : false, () => {
    reload();
    reloadTasks();
  });
  const act = async (action: 'retry' | 'stop') => {
    setActionError(undefined);
    try {
      const result = await api<ReplicationExecution>('POST', `/replication/executions/${id}/${action}`);
      if (action === 'retry') setNotice(t('replication.retryStarted', { id: result.id }));
      reload();
    } catch (err) {
      setActionError((err as Error).message);
    }
  };
  return (
    <section>
      <p>
        <Link to="/replication?tab=executions">← {t('replication.executions')}</Link>
      </p>
      <div className="page-head">
        <h1>{t('replication.executionNamed', { id: id ?? '' })}</h1>
      </div>
      <ErrorNote message={error ?? actionError} />
      {notice && (
        <Notice>
          {notice} <Link to="/replication?tab=executions">{t('replication.seeExecutions')}</Link>
        </Notice>
      )}
      {execution && (
        <>
          <dl className="facts">
            <dt>{t('common.status')}</dt>
            <dd>
              <ExecutionBadge status={execution.status} />
              {execution.error && <span className="muted"> {execution.error}</span>}
            </dd>
            <dt>{t('replication.tasks')}</dt>
            <dd>{t('replication.taskCounts', execution.tasks)}</dd>
            <dt>{t('replication.bytes')}</dt>
            <dd>{formatBytes(execution.bytes)}</dd>
            <dt>{t('replication.started')}</dt>
            <dd>{formatTime(execution.startedAt)}</dd>
            <dt>{t('run.finished')}</dt>
            <dd>{formatTime(execution.finishedAt)}</dd>
          </dl>
          <div className="buttons left">
            {execution.tasks.failed > 0 && !running(execution) && (
              <button type="button" className="primary" onClick={() => void act('retry')}>
                {t('replication.retryFailed')}
              </button>
            )}
            {(execution.status === 'queued' || execution.status === 'running') && (
              <button type="button" className="danger" onClick={() => void act('stop')}>
                {t('replication.stop')}
              </button>
            )}
          </div>
        </>
      )}
      {tasks && tasks.items.length === 0 && <Empty title={t('replication.noTasks')} />}
      {tasks && tasks.items.length > 0 && (
        <table className="tasks">
          <thead>
            <tr>
              <th scope="col">{t('replication.source')}</th>
              <th scope="col">{t('replication.destination')}</th>
              <th scope="col">{t('common.status')}</th>
              <th scope="col">{t('artifact.digest')}</th>
              <th scope="col">{t('replication.bytes')}</th>
              <th scope="col">{t('run.finished')}</th>
            </tr>
          </thead>
          <tbody>
            {tasks.items.map((task) => (
              <tr key={task.id}>
                <td>
                  <code>
                    {task.source}:{task.reference}
                  </code>
                  {task.operation === 'delete' && <span className="badge">{t('replication.operation.delete')}</span>}
                </td>
                <td>
                  <code>{task.destination}</code>
                </td>
                <td>
                  <span className={`badge status-${task.status === 'failed' ? 'failed' : task.status === 'pending' ? 'pending' : 'succeeded'}`}>{t(`replication.task.${task.status}`)}</span>
                  {task.error && <div className="muted small">{task.error}</div>}
                </td>
                <td>{task.digest ? <code title={task.digest}>{shortDigest(task.digest)}</code> : '—'}</td>
                <td>{formatBytes(task.bytes)}</td>
                <td>{formatTime(task.finishedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
