import { useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router';
import { api, query, type Page, type Project } from '../api';
import type { Session } from '../App';
import { Dialog, Empty, ErrorNote, Field, Pagination, RoleLabel, useLoad } from '../components/ui';
import { useI18n } from '../i18n';

const pageSize = 15;

export function Projects({ session }: { session: Session }) {
  const { t, formatTime } = useI18n();
  const [page, setPage] = useState(1);
  const [search, setSearch] = useState('');
  const [creating, setCreating] = useState(false);
  const { data, error, reload } = useLoad(
    () => api<Page<Project>>('GET', `/projects${query({ page, page_size: pageSize, q: search ? `name=~${search}` : undefined })}`),
    [page, search],
  );
  const host = window.location.host;
  return (
    <section>
      <div className="page-head">
        <h1>{t('projects.title')}</h1>
        <button type="button" className="primary" onClick={() => setCreating(true)}>
          {t('projects.new')}
        </button>
      </div>
      <div className="toolbar">
        <label className="search">
          <span className="visually-hidden">{t('common.search')}</span>
          <input
            type="search"
            placeholder={t('common.search')}
            aria-label={t('common.search')}
            value={search}
            onChange={(e) => {
              setSearch(e.target.value);
              setPage(1);
            }}
          />
        </label>
      </div>
      <ErrorNote message={error} />
      {data && data.total === 0 && !search ? (
        <Empty title={t('projects.empty')}>
          <code>podman push --tls-verify=false &lt;image&gt; {host}/{session.user.username}/app:latest</code>
        </Empty>
      ) : (
        data && (
          <>
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('common.name')}</th>
                  <th scope="col">{t('projects.visibility')}</th>
                  <th scope="col">{t('projects.repositories')}</th>
                  <th scope="col">{t('projects.role')}</th>
                  <th scope="col">{t('common.created')}</th>
                </tr>
              </thead>
              <tbody>
                {data.items.map((p) => (
                  <tr key={p.id}>
                    <td>
                      <Link to={`/projects/${p.name}`}>{p.name}</Link>
                    </td>
                    <td>{p.public ? <span className="badge public">{t('projects.public')}</span> : <span className="badge">{t('projects.private')}</span>}</td>
                    <td>{p.repositoryCount ?? 0}</td>
                    <td>{p.currentUserRole ? <RoleLabel role={p.currentUserRole} /> : session.user.isAdmin ? <span className="muted">{t('users.admin')}</span> : '—'}</td>
                    <td>{formatTime(p.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <Pagination page={page} pageSize={pageSize} total={data.total} onPage={setPage} />
          </>
        )
      )}
      {creating && <CreateProject onClose={() => setCreating(false)} onCreated={reload} />}
    </section>
  );
}

function CreateProject({ onClose, onCreated }: { onClose: () => void; onCreated: () => void }) {
  const { t } = useI18n();
  const navigate = useNavigate();
  const [name, setName] = useState('');
  const [isPublic, setPublic] = useState(false);
  const [error, setError] = useState<string>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api('POST', '/projects', { name, public: isPublic });
      onCreated();
      onClose();
      void navigate(`/projects/${name}`);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <Dialog title={t('projects.new')} onClose={onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <Field label={t('common.name')}>{(id) => <input id={id} required pattern="[a-z0-9]+([._\-][a-z0-9]+)*" value={name} onChange={(e) => setName(e.target.value)} />}</Field>
        <div className="field checkbox">
          <label>
            <input type="checkbox" checked={isPublic} onChange={(e) => setPublic(e.target.checked)} /> {t('projects.public')}
          </label>
          <small>{t('projects.publicHelp')}</small>
        </div>
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
