import { useCallback, useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import { api, query, repoSegment, type Delivery, type Member, type Page, type Project, type Repository, type Robot, type Role, type Webhook } from '../api';
import type { Session } from '../App';
import { Command, ConfirmButton, Dialog, Empty, ErrorNote, Field, Notice, Pagination, RoleLabel, Tabs, useLoad } from '../components/ui';
import { useI18n, type MessageKey } from '../i18n';
import { AuditTable } from './Audit';
import { RebuildHintsPanel } from './Recommendations';
import { ProjectBestPractices } from './BestPractices';
import { Policies } from './Policies';
import { ProxyCachePanel } from './ProxyCache';
import { PreheatPolicies } from './Preheat';
import { SecurityPolicy } from './SecurityPolicy';

type Tab = 'repositories' | 'members' | 'robots' | 'webhooks' | 'audit' | 'policies' | 'security' | 'lint' | 'rebuild' | 'preheat' | 'proxy' | 'settings';
const roles: Role[] = ['admin', 'maintainer', 'developer', 'guest', 'limited-guest'];

/** What the caller's role lets it see and do here (the server decides; this only hides dead ends). */
function abilities(session: Session, project: Project) {
  const role = project.currentUserRole ?? null;
  const rank = role ? roles.length - roles.indexOf(role) : 0;
  const admin = session.user.isAdmin || role === 'admin';
  return {
    push: session.user.isAdmin || rank >= 3,
    delete: session.user.isAdmin || rank >= 4,
    members: session.user.isAdmin || rank >= 2,
    manageMembers: admin,
    robots: session.user.isAdmin || rank >= 4,
    webhooks: session.user.isAdmin || rank >= 4,
    manageWebhooks: admin,
    audit: session.user.isAdmin || rank >= 2,
    // As the server's matrix: developers read retention and immutability, maintainers manage them.
    policies: session.user.isAdmin || rank >= 3,
    managePolicies: session.user.isAdmin || rank >= 4,
    admin,
  };
}

export function ProjectPage({ session }: { session: Session }) {
  const { project: name = '' } = useParams();
  const { t } = useI18n();
  const [params, setParams] = useSearchParams();
  const tab = (params.get('tab') as Tab | null) ?? 'repositories';
  const { data: project, error, reload } = useLoad(() => api<Project>('GET', `/projects/${name}`), [name]);
  if (error) return <ErrorNote message={error} />;
  if (!project) return <p className="loading">{t('common.loading')}</p>;
  const can = abilities(session, project);
  const tabs: Array<{ key: Tab; label: string }> = [{ key: 'repositories', label: t('project.repositories') }];
  if (can.members) tabs.push({ key: 'members', label: t('project.members') });
  if (can.robots) tabs.push({ key: 'robots', label: t('project.robots') });
  if (can.webhooks) tabs.push({ key: 'webhooks', label: t('project.webhooks') });
  if (can.audit) tabs.push({ key: 'audit', label: t('project.audit') });
  if (can.policies) tabs.push({ key: 'policies', label: t('project.policies') });
  if (can.policies) tabs.push({ key: 'security', label: t('project.security') });
  // The summary is for every member; the rules checked show to those who read policies.
  tabs.push({ key: 'lint', label: t('lint.summaryTitle') });
  tabs.push({ key: 'rebuild', label: t('rebuild.tab') });
  if (can.policies) tabs.push({ key: 'preheat', label: t('preheat.title') });
  tabs.push({ key: 'proxy', label: t('proxy.title') });
  if (can.admin) tabs.push({ key: 'settings', label: t('project.settings') });
  return (
    <section>
      <nav className="breadcrumbs" aria-label="Breadcrumb">
        <Link to="/projects">{t('nav.projects')}</Link> / <span aria-current="page">{project.name}</span>
      </nav>
      <div className="page-head">
        <h1>
          {project.name} {project.public ? <span className="badge public">{t('projects.public')}</span> : <span className="badge">{t('projects.private')}</span>}
        </h1>
        {project.currentUserRole && <RoleLabel role={project.currentUserRole} />}
      </div>
      <Tabs tabs={tabs} active={tab} onChange={(key) => setParams({ tab: key })} label={t('project.tabs')} />
      <div role="tabpanel" className="tabpanel">
        {tab === 'repositories' && <Repositories project={project} canDelete={can.delete} />}
        {tab === 'members' && <Members project={project} canManage={can.manageMembers} />}
        {tab === 'robots' && <Robots project={project} />}
        {tab === 'webhooks' && <Webhooks project={project} canManage={can.manageWebhooks} />}
        {tab === 'audit' && <AuditTable path={`/projects/${project.name}/audit-logs`} />}
        {tab === 'policies' && <Policies project={project.name} canManage={can.managePolicies} canSetQuota={session.user.isAdmin} />}
        {tab === 'security' && <SecurityPolicy project={project.name} canManage={can.managePolicies} canListRobots={can.robots} />}
        {tab === 'lint' && <ProjectBestPractices project={project.name} canReadPolicies={can.policies} canManage={can.managePolicies} />}
        {tab === 'rebuild' && <RebuildHintsPanel project={project.name} />}
        {tab === 'preheat' && <PreheatPolicies project={project.name} canManage={can.managePolicies} />}
        {tab === 'proxy' && <ProxyCachePanel project={project.name} isAdmin={session.user.isAdmin} host={window.location.host} />}
        {tab === 'settings' && <Settings project={project} onChange={reload} />}
      </div>
    </section>
  );
}

function Repositories({ project, canDelete }: { project: Project; canDelete: boolean }) {
  const { t, formatTime } = useI18n();
  const [page, setPage] = useState(1);
  const [search, setSearch] = useState('');
  const { data, error, reload } = useLoad(
    () => api<Page<Repository>>('GET', `/projects/${project.name}/repositories${query({ page, page_size: 15, q: search ? `name=~${search}` : undefined })}`),
    [project.name, page, search],
  );
  const host = window.location.host;
  if (data && data.total === 0 && !search) {
    return (
      <Empty title={t('project.emptyTitle')}>
        <p>{t('project.emptyHelp')}</p>
        <Command text={`podman login --tls-verify=false ${host}`} />
        <Command text={`podman push --tls-verify=false <image> ${host}/${project.name}/<name>:<tag>`} />
      </Empty>
    );
  }
  return (
    <>
      <div className="toolbar">
        <input type="search" aria-label={t('common.search')} placeholder={t('common.search')} value={search} onChange={(e) => { setSearch(e.target.value); setPage(1); }} />
      </div>
      <ErrorNote message={error} />
      {data && (
        <>
          {data.items.length === 0 && <p className="muted">{t('repo.empty')}</p>}
          <table>
            <thead>
              <tr>
                <th scope="col">{t('common.name')}</th>
                <th scope="col">{t('repo.artifacts')}</th>
                <th scope="col">{t('repo.tags')}</th>
                <th scope="col">{t('repo.updated')}</th>
                {canDelete && <th scope="col">{t('common.actions')}</th>}
              </tr>
            </thead>
            <tbody>
              {data.items.map((r) => (
                <tr key={r.name}>
                  <td>
                    <Link to={`/projects/${project.name}/repositories/${repoSegment(project.name, r.name)}`}>{r.name}</Link>
                  </td>
                  <td>{r.artifactCount}</td>
                  <td>{r.tagCount}</td>
                  <td>{formatTime(r.updatedAt)}</td>
                  {canDelete && (
                    <td>
                      <ConfirmButton
                        label={t('repo.delete')}
                        question={t('repo.deleteConfirm', { name: r.name })}
                        onConfirm={async () => {
                          await api('DELETE', `/projects/${project.name}/repositories/${repoSegment(project.name, r.name)}`);
                          reload();
                        }}
                      />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
          <Pagination page={page} pageSize={15} total={data.total} onPage={setPage} />
        </>
      )}
    </>
  );
}

function Members({ project, canManage }: { project: Project; canManage: boolean }) {
  const { t, formatTime } = useI18n();
  const { data, error, reload } = useLoad(() => api<Page<Member>>('GET', `/projects/${project.name}/members?page_size=100`), [project.name]);
  const [adding, setAdding] = useState(false);
  const close = useCallback(() => setAdding(false), []);
  return (
    <>
      {canManage && (
        <div className="toolbar">
          <button type="button" className="primary" onClick={() => setAdding(true)}>
            {t('members.add')}
          </button>
        </div>
      )}
      <ErrorNote message={error} />
      {data && data.items.length === 0 && <p className="muted">{t('members.empty')}</p>}
      {data && data.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">{t('common.name')}</th>
              <th scope="col">{t('members.type')}</th>
              <th scope="col">{t('members.role')}</th>
              <th scope="col">{t('common.created')}</th>
              {canManage && <th scope="col">{t('common.actions')}</th>}
            </tr>
          </thead>
          <tbody>
            {data.items.map((m) => (
              <tr key={m.id}>
                <td>{m.principalName}</td>
                <td>{m.principalType === 'user' ? t('members.user') : t('members.group')}</td>
                <td>
                  {canManage ? (
                    <select
                      aria-label={`${t('members.role')} ${m.principalName}`}
                      value={m.role}
                      onChange={async (e) => {
                        await api('PATCH', `/projects/${project.name}/members/${m.id}`, { role: e.target.value });
                        reload();
                      }}
                    >
                      {roles.map((r) => (
                        <option key={r} value={r}>
                          {t(`role.${r}` as MessageKey)}
                        </option>
                      ))}
                    </select>
                  ) : (
                    <RoleLabel role={m.role} />
                  )}
                </td>
                <td>{formatTime(m.createdAt)}</td>
                {canManage && (
                  <td>
                    <ConfirmButton
                      label={t('members.remove', { name: m.principalName })}
                      question={t('members.removeConfirm', { name: m.principalName })}
                      onConfirm={async () => {
                        await api('DELETE', `/projects/${project.name}/members/${m.id}`);
                        reload();
                      }}
                    />
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {adding && <AddMember project={project} onClose={close} onAdded={reload} />}
    </>
  );
}

function AddMember({ project, onClose, onAdded }: { project: Project; onClose: () => void; onAdded: () => void }) {
  const { t } = useI18n();
  const [type, setType] = useState<'user' | 'group'>('user');
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('developer');
  const [error, setError] = useState<string>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api('POST', `/projects/${project.name}/members`, { type, name, role });
      onAdded();
      onClose();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <Dialog title={t('members.add')} onClose={onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <Field label={t('members.type')}>
          {(id) => (
            <select id={id} value={type} onChange={(e) => setType(e.target.value as 'user' | 'group')}>
              <option value="user">{t('members.user')}</option>
              <option value="group">{t('members.group')}</option>
            </select>
          )}
        </Field>
        <Field label={t('common.name')}>{(id) => <input id={id} required value={name} onChange={(e) => setName(e.target.value)} />}</Field>
        <Field label={t('members.role')}>
          {(id) => (
            <select id={id} value={role} onChange={(e) => setRole(e.target.value as Role)}>
              {roles.map((r) => (
                <option key={r} value={r}>
                  {t(`role.${r}` as MessageKey)}
                </option>
              ))}
            </select>
          )}
        </Field>
        <ErrorNote message={error} />
        <div className="buttons">
          <button type="button" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" className="primary">
            {t('common.create')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function Robots({ project }: { project: Project | null }) {
  const { t, formatTime } = useI18n();
  const base = project ? `/projects/${project.name}/robots` : '/robots';
  const { data, error, reload } = useLoad(() => api<Page<Robot>>('GET', `${base}?page_size=100`), [base]);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<{ name: string; secret: string }>();
  const close = useCallback(() => setCreating(false), []);
  return (
    <>
      <div className="toolbar">
        <button type="button" className="primary" onClick={() => setCreating(true)}>
          {t('robots.new')}
        </button>
      </div>
      <ErrorNote message={error} />
      {data && data.items.length === 0 && <p className="muted">{t('robots.empty')}</p>}
      {data && data.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">{t('common.name')}</th>
              <th scope="col">{t('robots.permissions')}</th>
              <th scope="col">{t('robots.expires')}</th>
              <th scope="col">{t('common.status')}</th>
              <th scope="col">{t('common.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {data.items.map((r) => (
              <tr key={r.id}>
                <td>
                  <code>{r.name}</code>
                  {r.description && <div className="muted small">{r.description}</div>}
                </td>
                <td>{r.permissions.map((p) => `${p.project}: ${p.actions.join(', ')}`).join('; ')}</td>
                <td>{r.expiresAt ? formatTime(r.expiresAt) : t('common.never')}</td>
                <td>{r.disabled ? t('common.disabled') : t('common.enabled')}</td>
                <td className="actions">
                  <button
                    type="button"
                    onClick={async () => {
                      await api('PATCH', `${base}/${r.id}`, { disabled: !r.disabled });
                      reload();
                    }}
                  >
                    {r.disabled ? t('robots.enable') : t('robots.disable')}
                  </button>
                  <ConfirmButton
                    label={t('common.delete')}
                    question={t('robots.deleteConfirm', { name: r.name })}
                    onConfirm={async () => {
                      await api('DELETE', `${base}/${r.id}`);
                      reload();
                    }}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {creating && (
        <CreateRobot
          project={project}
          onClose={close}
          onCreated={(robot) => {
            setCreating(false);
            setCreated(robot);
            reload();
          }}
        />
      )}
      {created && (
        <Dialog title={t('robots.secretTitle')} onClose={() => setCreated(undefined)}>
          <p>{t('robots.secretHelp')}</p>
          <Field label={t('common.name')}>{(id) => <input id={id} readOnly value={created.name} />}</Field>
          <Field label={t('robots.secret')}>{(id) => <input id={id} readOnly value={created.secret} className="secret" />}</Field>
          <Command text={created.secret} label={t('robots.secret')} />
          <Command text={`podman login --tls-verify=false -u '${created.name}' ${window.location.host}`} />
          <div className="buttons">
            <button type="button" className="primary" onClick={() => setCreated(undefined)}>
              {t('common.close')}
            </button>
          </div>
        </Dialog>
      )}
    </>
  );
}

function CreateRobot({ project, onClose, onCreated }: { project: Project | null; onClose: () => void; onCreated: (r: { name: string; secret: string }) => void }) {
  const { t } = useI18n();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [days, setDays] = useState('');
  const [actions, setActions] = useState<Array<'pull' | 'push' | 'delete'>>(['pull']);
  const [error, setError] = useState<string>();
  const toggle = (action: 'pull' | 'push' | 'delete') => setActions((a) => (a.includes(action) ? a.filter((x) => x !== action) : [...a, action]));
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const expiresAt = days ? new Date(Date.now() + Number(days) * 86_400_000).toISOString() : null;
      const robot = await api<{ name: string; secret: string }>('POST', project ? `/projects/${project.name}/robots` : '/robots', {
        name,
        description: description || null,
        expiresAt,
        permissions: [{ project: project?.name ?? '*', actions }],
      });
      onCreated(robot);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <Dialog title={t('robots.new')} onClose={onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <Field label={t('common.name')}>{(id) => <input id={id} required pattern="[a-z0-9]+([._\-][a-z0-9]+)*" value={name} onChange={(e) => setName(e.target.value)} />}</Field>
        <Field label={t('robots.description')}>{(id) => <input id={id} value={description} onChange={(e) => setDescription(e.target.value)} />}</Field>
        <Field label={t('robots.expiresDays')}>{(id) => <input id={id} type="number" min="1" value={days} onChange={(e) => setDays(e.target.value)} />}</Field>
        <fieldset>
          <legend>{t('robots.permissions')}</legend>
          {(['pull', 'push', 'delete'] as const).map((a) => (
            <label key={a} className="inline">
              <input type="checkbox" checked={actions.includes(a)} onChange={() => toggle(a)} /> {a}
            </label>
          ))}
        </fieldset>
        <ErrorNote message={error} />
        <div className="buttons">
          <button type="button" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" className="primary" disabled={actions.length === 0}>
            {t('common.create')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function Webhooks({ project, canManage }: { project: Project; canManage: boolean }) {
  const { t, formatTime } = useI18n();
  const { data, error, reload } = useLoad(() => api<Page<Webhook>>('GET', `/projects/${project.name}/webhooks`), [project.name]);
  const [creating, setCreating] = useState(false);
  const [open, setOpen] = useState<number>();
  const [notice, setNotice] = useState<string>();
  const close = useCallback(() => setCreating(false), []);
  return (
    <>
      {canManage && (
        <div className="toolbar">
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            {t('webhooks.new')}
          </button>
        </div>
      )}
      <ErrorNote message={error} />
      {notice && <Notice>{notice}</Notice>}
      {data && data.items.length === 0 && <p className="muted">{t('webhooks.empty')}</p>}
      {data && data.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">{t('common.name')}</th>
              <th scope="col">{t('webhooks.url')}</th>
              <th scope="col">{t('webhooks.events')}</th>
              <th scope="col">{t('webhooks.format')}</th>
              <th scope="col">{t('common.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {data.items.map((w) => (
              <tr key={w.id}>
                <td>{w.name}</td>
                <td>
                  <code>{w.url}</code>
                </td>
                <td>{w.eventTypes.join(', ')}</td>
                <td>{w.format}</td>
                <td className="actions">
                  <button type="button" onClick={() => setOpen(open === w.id ? undefined : w.id)} aria-expanded={open === w.id}>
                    {t('webhooks.deliveries')}
                  </button>
                  {canManage && (
                    <button
                      type="button"
                      onClick={async () => {
                        const d = await api<Delivery>('POST', `/projects/${project.name}/webhooks/${w.id}/test`);
                        setNotice(t('webhooks.testResult', { status: d.status, code: d.responseCode ?? d.lastError ?? '—' }));
                      }}
                    >
                      {t('webhooks.test')}
                    </button>
                  )}
                  {canManage && (
                    <ConfirmButton
                      label={t('common.delete')}
                      question={t('webhooks.deleteConfirm', { name: w.name })}
                      onConfirm={async () => {
                        await api('DELETE', `/projects/${project.name}/webhooks/${w.id}`);
                        reload();
                      }}
                    />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {open !== undefined && <Deliveries project={project} webhookId={open} formatTime={formatTime} />}
      {creating && <CreateWebhook project={project} onClose={close} onCreated={reload} />}
    </>
  );
}

function Deliveries({ project, webhookId, formatTime }: { project: Project; webhookId: number; formatTime: (iso: string | null) => string }) {
  const { t } = useI18n();
  const { data, error } = useLoad(() => api<Page<Delivery>>('GET', `/projects/${project.name}/webhooks/${webhookId}/deliveries?page_size=50`), [webhookId]);
  return (
    <section className="panel" aria-label={t('webhooks.deliveries')}>
      <h2>{t('webhooks.deliveries')}</h2>
      <ErrorNote message={error} />
      {data && data.items.length === 0 && <p className="muted">{t('webhooks.noDeliveries')}</p>}
      {data && data.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">{t('audit.time')}</th>
              <th scope="col">{t('webhooks.events')}</th>
              <th scope="col">{t('common.status')}</th>
              <th scope="col">{t('webhooks.response')}</th>
              <th scope="col">{t('webhooks.latency')}</th>
              <th scope="col">{t('webhooks.attempts')}</th>
            </tr>
          </thead>
          <tbody>
            {data.items.map((d) => (
              <tr key={d.id}>
                <td>{formatTime(d.createdAt)}</td>
                <td>{d.eventType}</td>
                <td>
                  <span className={`badge status-${d.status}`}>{d.status}</span>
                </td>
                <td>{d.responseCode ?? d.lastError ?? '—'}</td>
                <td>{d.latencyMs === null ? '—' : `${d.latencyMs} ms`}</td>
                <td>{d.attempts}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function CreateWebhook({ project, onClose, onCreated }: { project: Project; onClose: () => void; onCreated: () => void }) {
  const { t } = useI18n();
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [format, setFormat] = useState<'harbor' | 'cloudevents'>('harbor');
  const [events, setEvents] = useState<string[]>(['push']);
  const [secret, setSecret] = useState('');
  const [authHeader, setAuthHeader] = useState('');
  const [error, setError] = useState<string>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api('POST', `/projects/${project.name}/webhooks`, { name, url, format, eventTypes: events, secret: secret || null, authHeader: authHeader || null });
      onCreated();
      onClose();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <Dialog title={t('webhooks.new')} onClose={onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <Field label={t('common.name')}>{(id) => <input id={id} required value={name} onChange={(e) => setName(e.target.value)} />}</Field>
        <Field label={t('webhooks.url')}>{(id) => <input id={id} type="url" required value={url} onChange={(e) => setUrl(e.target.value)} />}</Field>
        <Field label={t('webhooks.format')}>
          {(id) => (
            <select id={id} value={format} onChange={(e) => setFormat(e.target.value as 'harbor' | 'cloudevents')}>
              <option value="harbor">Harbor</option>
              <option value="cloudevents">CloudEvents 1.0</option>
            </select>
          )}
        </Field>
        <fieldset>
          <legend>{t('webhooks.events')}</legend>
          {['push', 'pull', 'delete', 'tag', 'quota', 'rebuild'].map((ev) => (
            <label key={ev} className="inline">
              <input type="checkbox" checked={events.includes(ev)} onChange={() => setEvents((x) => (x.includes(ev) ? x.filter((y) => y !== ev) : [...x, ev]))} /> {ev}
            </label>
          ))}
        </fieldset>
        <Field label={t('webhooks.secret')}>{(id) => <input id={id} type="password" autoComplete="off" value={secret} onChange={(e) => setSecret(e.target.value)} />}</Field>
        <Field label={t('webhooks.authHeader')}>{(id) => <input id={id} type="password" autoComplete="off" value={authHeader} onChange={(e) => setAuthHeader(e.target.value)} />}</Field>
        <ErrorNote message={error} />
        <div className="buttons">
          <button type="button" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" className="primary" disabled={events.length === 0}>
            {t('common.create')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function Settings({ project, onChange }: { project: Project; onChange: () => void }) {
  const { t } = useI18n();
  const navigate = useNavigate();
  return (
    <div className="panel">
      <p>{t('projects.publicHelp')}</p>
      <div className="buttons left">
        <button
          type="button"
          onClick={async () => {
            await api('PATCH', `/projects/${project.name}`, { public: !project.public });
            onChange();
          }}
        >
          {project.public ? t('project.makePrivate') : t('project.makePublic')}
        </button>
        <ConfirmButton
          label={t('project.delete')}
          question={t('project.deleteConfirm', { name: project.name })}
          onConfirm={async () => {
            await api('DELETE', `/projects/${project.name}`);
            void navigate('/projects');
          }}
        />
      </div>
    </div>
  );
}
