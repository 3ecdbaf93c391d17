import { useCallback, useState, type FormEvent } from 'react';
import { api, query, type Page, type User } from '../api';
import type { Session } from '../App';
import { ConfirmButton, Dialog, ErrorNote, Field, Notice, Pagination, useLoad } from '../components/ui';
import { useI18n } from '../i18n';

export function Users({ session }: { session: Session }) {
  const { t, formatTime } = useI18n();
  const [page, setPage] = useState(1);
  const [search, setSearch] = useState('');
  const [creating, setCreating] = useState(false);
  const [notice, setNotice] = useState<string>();
  const { data, error, reload } = useLoad(() => api<Page<User>>('GET', `/users${query({ page, page_size: 20, q: search ? `username=~${search}` : undefined })}`), [page, search]);
  const close = useCallback(() => setCreating(false), []);
  const patch = async (user: User, body: Record<string, unknown>) => {
    await api('PATCH', `/users/${user.id}`, body);
    reload();
  };
  return (
    <section>
      <div className="page-head">
        <h1>{t('users.title')}</h1>
        <button type="button" className="primary" onClick={() => setCreating(true)}>
          {t('users.new')}
        </button>
      </div>
      <div className="toolbar">
        <input type="search" aria-label={t('common.search')} placeholder={t('common.search')} value={search} onChange={(e) => { setSearch(e.target.value); setPage(1); }} />
      </div>
      <ErrorNote message={error} />
      {notice && <Notice>{notice}</Notice>}
      {data && (
        <>
          <table>
            <thead>
              <tr>
                <th scope="col">{t('login.username')}</th>
                <th scope="col">{t('users.email')}</th>
                <th scope="col">{t('users.source')}</th>
                <th scope="col">{t('users.admin')}</th>
                <th scope="col">{t('common.status')}</th>
                <th scope="col">{t('users.lastLogin')}</th>
                <th scope="col">{t('common.actions')}</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((u) => (
                <tr key={u.id}>
                  <td>{u.username}</td>
                  <td>{u.email ?? '—'}</td>
                  <td>{u.source}</td>
                  <td>{u.isAdmin ? t('common.yes') : t('common.no')}</td>
                  <td>
                    {u.disabled ? t('common.disabled') : t('common.enabled')}
                    {u.locked && <span className="badge status-failed">{t('users.locked')}</span>}
                  </td>
                  <td>{formatTime(u.lastLoginAt)}</td>
                  <td className="actions">
                    {u.locked && (
                      <button
                        type="button"
                        onClick={async () => {
                          await api('POST', `/users/${u.id}/unlock`);
                          setNotice(t('users.unlocked', { name: u.username }));
                          reload();
                        }}
                      >
                        {t('users.unlock')}
                      </button>
                    )}
                    {u.id !== session.user.id && (
                      <>
                        <button type="button" onClick={() => void patch(u, { isAdmin: !u.isAdmin })}>
                          {u.isAdmin ? t('users.revokeAdmin') : t('users.makeAdmin')}
                        </button>
                        <button type="button" onClick={() => void patch(u, { disabled: !u.disabled })}>
                          {u.disabled ? t('robots.enable') : t('robots.disable')}
                        </button>
                        <ConfirmButton
                          label={t('common.delete')}
                          question={t('users.deleteConfirm', { name: u.username })}
                          onConfirm={async () => {
                            await api('DELETE', `/users/${u.id}`);
                            reload();
                          }}
                        />
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pagination page={page} pageSize={20} total={data.total} onPage={setPage} />
        </>
      )}
      {creating && <CreateUser onClose={close} onCreated={reload} />}
    </section>
  );
}

function CreateUser({ onClose, onCreated }: { onClose: () => void; onCreated: () => void }) {
  const { t } = useI18n();
  const [username, setUsername] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [isAdmin, setAdmin] = useState(false);
  const [error, setError] = useState<string>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api('POST', '/users', { username, password, email: email || null, isAdmin });
      onCreated();
      onClose();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <Dialog title={t('users.new')} onClose={onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <Field label={t('login.username')}>{(id) => <input id={id} required value={username} onChange={(e) => setUsername(e.target.value)} />}</Field>
        <Field label={t('users.email')}>{(id) => <input id={id} type="email" value={email} onChange={(e) => setEmail(e.target.value)} />}</Field>
        <Field label={t('login.password')}>{(id) => <input id={id} type="password" autoComplete="new-password" required value={password} onChange={(e) => setPassword(e.target.value)} />}</Field>
        <div className="field checkbox">
          <label>
            <input type="checkbox" checked={isAdmin} onChange={(e) => setAdmin(e.target.checked)} /> {t('users.admin')}
          </label>
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
