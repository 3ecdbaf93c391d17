import { useState, type FormEvent } from 'react';
import { api, type Page, type PreheatExecution, type PreheatPolicy, type PreheatProvider, type PreheatTask } from '../api';
import { ConfirmButton, Dialog, Empty, ErrorNote, Field, Notice, shortDigest, useLoad, usePolling } from '../components/ui';
import { useI18n, type MessageKey } from '../i18n';

/** Dragonfly managers Berth asks to preheat (system administrators; docs/preheat.md). */
export function PreheatProviders() {
  const { t } = useI18n();
  const { data, error, reload } = useLoad(() => api<Page<PreheatProvider>>('GET', '/p2p/preheat/providers'), []);
  const [adding, setAdding] = useState(false);
  const [checks, setChecks] = useState<Record<number, { ok: boolean; message: string }>>({});
  const [actionError, setActionError] = useState<string>();
  return (
    <>
      <p className="muted">{t('preheat.providersHelp')}</p>
      <div className="buttons left">
        <button type="button" className="primary" onClick={() => setAdding(true)}>
          {t('preheat.newProvider')}
        </button>
      </div>
      <ErrorNote message={error ?? actionError} />
      {data && data.items.length === 0 && <Empty title={t('preheat.noProviders')} />}
      {data && data.items.length > 0 && (
        <table className="preheat-providers">
          <thead>
            <tr>
              <th scope="col">{t('common.name')}</th>
              <th scope="col">{t('replication.url')}</th>
              <th scope="col">{t('preheat.authMode')}</th>
              <th scope="col">{t('common.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {data.items.map((provider) => (
              <tr key={provider.id}>
                <td>
                  {provider.name} <span className="badge">Dragonfly</span>
                </td>
                <td>
                  <code>{provider.url}</code>
                </td>
                <td>{t(`preheat.auth.${provider.authMode}`)}</td>
                <td>
                  <div className="buttons">
                    <button
                      type="button"
                      aria-label={t('replication.testNamed', { name: provider.name })}
                      onClick={async () => {
                        setActionError(undefined);
                        try {
                          const check = await api<{ ok: boolean; message: string }>('POST', `/p2p/preheat/providers/${provider.id}/ping`);
                          setChecks((c) => ({ ...c, [provider.id]: check }));
                        } catch (err) {
                          setActionError((err as Error).message);
                        }
                      }}
                    >
                      {t('replication.test')}
                    </button>
                    <ConfirmButton
                      label={t('common.delete')}
                      question={t('preheat.deleteProvider', { name: provider.name })}
                      className="danger"
                      onConfirm={async () => {
                        try {
                          await api('DELETE', `/p2p/preheat/providers/${provider.id}`);
                          reload();
                        } catch (err) {
                          setActionError((err as Error).message);
                        }
                      }}
                    />
                  </div>
                  {checks[provider.id] && (
                    <p role="status">
                      <span className={`badge status-${checks[provider.id]!.ok ? 'succeeded' : 'failed'}`}>{checks[provider.id]!.ok ? t('replication.checkOk') : t('preheat.checkFailed')}</span> {checks[provider.id]!.message}
                    </p>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {adding && (
        <ProviderForm
          onClose={() => setAdding(false)}
          onSaved={() => {
            setAdding(false);
            reload();
          }}
        />
      )}
    </>
  );
}

function ProviderForm({ onClose, onSaved }: { onClose: () => void; onSaved: () => void }) {
  const { t } = useI18n();
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [authMode, setAuthMode] = useState<PreheatProvider['authMode']>('oauth');
  const [username, setUsername] = useState('');
  const [secret, setSecret] = useState('');
  const [error, setError] = useState<string>();
  const [check, setCheck] = useState<{ ok: boolean; message: string }>();
  const body = () => ({ url: url.trim(), authMode, username: authMode === 'basic' ? username.trim() || null : null, secret: secret || null });
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      await api('POST', '/p2p/preheat/providers', { name: name.trim(), ...body() });
      onSaved();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <Dialog title={t('preheat.newProvider')} onClose={onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <Field label={t('common.name')}>{(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} required autoFocus />}</Field>
        <Field label={t('replication.url')} help={t('preheat.urlHelp')}>
          {(id) => <input id={id} value={url} onChange={(e) => setUrl(e.target.value)} placeholder="http://dragonfly-manager:8080" required />}
        </Field>
        <Field label={t('preheat.authMode')}>
          {(id) => (
            <select id={id} value={authMode} onChange={(e) => setAuthMode(e.target.value as PreheatProvider['authMode'])}>
              <option value="oauth">{t('preheat.auth.oauth')}</option>
              <option value="basic">{t('preheat.auth.basic')}</option>
              <option value="none">{t('preheat.auth.none')}</option>
            </select>
          )}
        </Field>
        {authMode === 'basic' && <Field label={t('replication.username')}>{(id) => <input id={id} value={username} onChange={(e) => setUsername(e.target.value)} autoComplete="off" />}</Field>}
        {authMode !== 'none' && (
          <Field label={authMode === 'oauth' ? t('preheat.token') : t('replication.secret')} help={t('replication.secretHelp')}>
            {(id) => <input id={id} type="password" value={secret} onChange={(e) => setSecret(e.target.value)} autoComplete="new-password" />}
          </Field>
        )}
        <ErrorNote message={error} />
        {check && (
          <p role="status">
            <span className={`badge status-${check.ok ? 'succeeded' : 'failed'}`}>{check.ok ? t('replication.checkOk') : t('preheat.checkFailed')}</span> {check.message}
          </p>
        )}
        <div className="buttons">
          <button
            type="button"
            onClick={async () => {
              setError(undefined);
              try {
                setCheck(await api('POST', '/p2p/preheat/providers/ping', body()));
              } catch (err) {
                setError((err as Error).message);
              }
            }}
          >
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

/** A project's preheat policies, their runs and each image's outcome. */
export function PreheatPolicies({ project, canManage }: { project: string; canManage: boolean }) {
  const { t } = useI18n();
  const { data, error, reload } = useLoad(() => api<Page<PreheatPolicy>>('GET', `/projects/${project}/preheat/policies`), [project]);
  const [adding, setAdding] = useState(false);
  const [shown, setShown] = useState<number>();
  const [notice, setNotice] = useState<string>();
  const [actionError, setActionError] = useState<string>();
  return (
    <section aria-labelledby="preheat-title">
      <h2 id="preheat-title">{t('preheat.title')}</h2>
      <p className="muted">{t('preheat.help')}</p>
      {canManage && (
        <div className="buttons left">
          <button type="button" className="primary" onClick={() => setAdding(true)}>
            {t('preheat.newPolicy')}
          </button>
        </div>
      )}
      {notice && <Notice>{notice}</Notice>}
      <ErrorNote message={error ?? actionError} />
      {data && data.items.length === 0 && <Empty title={t('preheat.noPolicies')} />}
      {data && data.items.length > 0 && (
        <table className="preheat-policies">
          <thead>
            <tr>
              <th scope="col">{t('common.name')}</th>
              <th scope="col">{t('replication.filters')}</th>
              <th scope="col">{t('replication.trigger')}</th>
              <th scope="col">{t('preheat.scope')}</th>
              <th scope="col">{t('common.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {data.items.map((policy) => (
              <tr key={policy.id}>
                <td>{policy.name}</td>
                <td>
                  <code>{policy.repositories}</code> : <code>{policy.tags}</code>
                </td>
                <td>{policy.trigger === 'cron' ? t('replication.trigger.cronAt', { cron: policy.cron ?? '' }) : t(`replication.trigger.${policy.trigger}`)}</td>
                <td>{t(`preheat.scope.${policy.scope}`)}</td>
                <td>
                  <div className="buttons">
                    {canManage && (
                      <button
                        type="button"
                        aria-label={t('replication.runNamed', { name: policy.name })}
                        onClick={async () => {
                          setActionError(undefined);
                          try {
                            const execution = await api<PreheatExecution>('POST', `/projects/${project}/preheat/policies/${policy.id}/executions`);
                            setNotice(t('replication.startedNotice', { id: execution.id, name: policy.name }));
                            setShown(policy.id);
                          } catch (err) {
                            setActionError((err as Error).message);
                          }
                        }}
                      >
                        {t('replication.run')}
                      </button>
                    )}
                    <button type="button" onClick={() => setShown(shown === policy.id ? undefined : policy.id)} aria-expanded={shown === policy.id}>
                      {t('replication.history')}
                    </button>
                    {canManage && (
                      <ConfirmButton
                        label={t('common.delete')}
                        question={t('replication.deleteRule', { name: policy.name })}
                        className="danger"
                        onConfirm={async () => {
                          await api('DELETE', `/projects/${project}/preheat/policies/${policy.id}`);
                          reload();
                        }}
                      />
                    )}
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {shown !== undefined && <PreheatHistory project={project} policyId={shown} />}
      {adding && (
        <PolicyForm
          project={project}
          onClose={() => setAdding(false)}
          onSaved={() => {
            setAdding(false);
            reload();
          }}
        />
      )}
    </section>
  );
}

function PolicyForm({ project, onClose, onSaved }: { project: string; onClose: () => void; onSaved: () => void }) {
  const { t } = useI18n();
  const { data: providers, error: loadError } = useLoad(() => api<Page<Pick<PreheatProvider, 'id' | 'name' | 'enabled'>>>('GET', `/projects/${project}/preheat/providers`), [project]);
  const [name, setName] = useState('');
  const [providerId, setProviderId] = useState<number>();
  const [repositories, setRepositories] = useState('**');
  const [tags, setTags] = useState('**');
  const [trigger, setTrigger] = useState<PreheatPolicy['trigger']>('manual');
  const [cron, setCron] = useState('0 * * * *');
  const [scope, setScope] = useState<PreheatPolicy['scope']>('single_seed_peer');
  const [error, setError] = useState<string>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      await api('POST', `/projects/${project}/preheat/policies`, { name: name.trim(), providerId: providerId ?? providers?.items[0]?.id, repositories, tags, trigger, cron: trigger === 'cron' ? cron : null, scope });
      onSaved();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <Dialog title={t('preheat.newPolicy')} onClose={onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <Field label={t('common.name')}>{(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} required autoFocus />}</Field>
        <Field label={t('preheat.provider')}>
          {(id) => (
            <select id={id} value={providerId ?? providers?.items[0]?.id ?? ''} onChange={(e) => setProviderId(Number(e.target.value))} required>
              {(providers?.items ?? []).map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label={t('replication.repositories')} help={t('preheat.repositoriesHelp')}>{(id) => <input id={id} value={repositories} onChange={(e) => setRepositories(e.target.value)} required />}</Field>
        <Field label={t('replication.tags')} help={t('replication.tagsHelp')}>{(id) => <input id={id} value={tags} onChange={(e) => setTags(e.target.value)} required />}</Field>
        <Field label={t('replication.trigger')}>
          {(id) => (
            <select id={id} value={trigger} onChange={(e) => setTrigger(e.target.value as PreheatPolicy['trigger'])}>
              <option value="manual">{t('replication.trigger.manual')}</option>
              <option value="cron">{t('replication.trigger.cron')}</option>
              <option value="event">{t('preheat.trigger.event')}</option>
            </select>
          )}
        </Field>
        {trigger === 'cron' && <Field label={t('replication.cron')}>{(id) => <input id={id} value={cron} onChange={(e) => setCron(e.target.value)} required />}</Field>}
        <Field label={t('preheat.scope')}>
          {(id) => (
            <select id={id} value={scope} onChange={(e) => setScope(e.target.value as PreheatPolicy['scope'])}>
              <option value="single_seed_peer">{t('preheat.scope.single_seed_peer')}</option>
              <option value="all_seed_peers">{t('preheat.scope.all_seed_peers')}</option>
              <option value="all_peers">{t('preheat.scope.all_peers')}</option>
            </select>
          )}
        </Field>
        <ErrorNote message={error ?? loadError} />
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

function PreheatHistory({ project, policyId }: { project: string; policyId: number }) {
  const { t, formatTime } = useI18n();
  const { data, reload } = useLoad(() => api<Page<PreheatExecution>>('GET', `/projects/${project}/preheat/policies/${policyId}/executions`), [project, policyId]);
  usePolling(data?.items.some((e) => e.status === 'queued' || e.status === 'running') ?? false, reload);
  const [open, setOpen] = useState<number>();
  return (
    <>
      <h3>{t('replication.executions')}</h3>
      {data && data.items.length === 0 && <Empty title={t('replication.noExecutions')} />}
      {data && data.items.length > 0 && (
        <table className="preheat-executions">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">{t('common.status')}</th>
              <th scope="col">{t('replication.trigger')}</th>
              <th scope="col">{t('replication.tasks')}</th>
              <th scope="col">{t('run.finished')}</th>
            </tr>
          </thead>
          <tbody>
            {data.items.map((execution) => (
              <tr key={execution.id}>
                <td>
                  <button type="button" className="link" onClick={() => setOpen(open === execution.id ? undefined : execution.id)} aria-expanded={open === execution.id}>
                    {t('replication.executionNamed', { id: execution.id })}
                  </button>
                </td>
                <td>
                  <span className={`badge status-${execution.status === 'succeeded' ? 'succeeded' : execution.status === 'failed' ? 'failed' : 'pending'}`}>{t(`replication.status.${execution.status}`)}</span>
                  {execution.error && <div className="muted small">{execution.error}</div>}
                </td>
                <td>{t(`replication.trigger.${execution.trigger}` as MessageKey)}</td>
                <td>{t('preheat.taskCounts', execution.tasks)}</td>
                <td>{formatTime(execution.finishedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {open !== undefined && <PreheatTasks project={project} executionId={open} />}
    </>
  );
}

function PreheatTasks({ project, executionId }: { project: string; executionId: number }) {
  const { t, formatTime } = useI18n();
  const { data } = useLoad(() => api<Page<PreheatTask>>('GET', `/projects/${project}/preheat/executions/${executionId}/tasks`), [project, executionId]);
  if (!data) return null;
  return (
    <table className="preheat-tasks" aria-label={t('replication.executionNamed', { id: executionId })}>
      <thead>
        <tr>
          <th scope="col">{t('preheat.image')}</th>
          <th scope="col">{t('artifact.digest')}</th>
          <th scope="col">{t('preheat.job')}</th>
          <th scope="col">{t('common.status')}</th>
          <th scope="col">{t('run.finished')}</th>
        </tr>
      </thead>
      <tbody>
        {data.items.map((task) => (
          <tr key={task.id}>
            <td>
              <code>
                {task.repository}:{task.tag}
              </code>
            </td>
            <td>{task.digest ? <code title={task.digest}>{shortDigest(task.digest)}</code> : '—'}</td>
            <td>{task.jobId ?? '—'}</td>
            <td>
              <span className={`badge status-${task.status === 'succeeded' ? 'succeeded' : task.status === 'failed' ? 'failed' : 'pending'}`}>{t(`preheat.task.${task.status}`)}</span>
              {task.message && <div className="muted small">{task.message}</div>}
            </td>
            <td>{formatTime(task.finishedAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
