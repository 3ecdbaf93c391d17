import { useState, type FormEvent } from 'react';
import { api } from '../api';
import type { Session } from '../App';
import { Command, ErrorNote, Field, Notice } from '../components/ui';
import { useI18n } from '../i18n';

export function Account({ session }: { session: Session }) {
  const { t } = useI18n();
  const { user } = session;
  const [oldPassword, setOld] = useState('');
  const [newPassword, setNew] = useState('');
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const [secret, setSecret] = useState<string>();
  const change = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api('PUT', '/users/current/password', { oldPassword, newPassword });
      setNotice(t('account.changed'));
      setError(undefined);
      setOld('');
      setNew('');
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <section>
      <div className="page-head">
        <h1>{t('account.title')}</h1>
      </div>
      <dl className="facts">
        <dt>{t('login.username')}</dt>
        <dd>{user.username}</dd>
        <dt>{t('users.email')}</dt>
        <dd>{user.email ?? '—'}</dd>
        <dt>{t('users.source')}</dt>
        <dd>{user.source}</dd>
      </dl>
      {user.source === 'local' && (
        <form className="panel narrow" onSubmit={(e) => void change(e)}>
          <h2>{t('account.password')}</h2>
          <Field label={t('account.oldPassword')}>{(id) => <input id={id} type="password" autoComplete="current-password" required value={oldPassword} onChange={(e) => setOld(e.target.value)} />}</Field>
          <Field label={t('account.newPassword')}>{(id) => <input id={id} type="password" autoComplete="new-password" required value={newPassword} onChange={(e) => setNew(e.target.value)} />}</Field>
          <ErrorNote message={error} />
          {notice && <Notice>{notice}</Notice>}
          <button type="submit" className="primary">
            {t('common.save')}
          </button>
        </form>
      )}
      {user.source === 'oidc' && (
        <div className="panel narrow">
          <h2>{t('account.cliSecret')}</h2>
          <p>{t('account.cliSecretHelp')}</p>
          <button type="button" onClick={async () => setSecret((await api<{ secret: string }>('POST', '/users/current/cli-secret')).secret)}>
            {t('account.generate')}
          </button>
          {secret && <Command text={secret} label={t('account.cliSecret')} />}
        </div>
      )}
    </section>
  );
}
