import { useState, type FormEvent } from 'react';
import { api, type SystemInfo } from '../api';
import { Preferences } from '../App';
import { Field } from '../components/ui';
import { useI18n } from '../i18n';

export function Login({ info, onLogin, theme, setTheme }: { info: SystemInfo; onLogin: () => Promise<void>; theme: 'light' | 'dark' | 'system'; setTheme: (t: 'light' | 'dark' | 'system') => void }) {
  const { t } = useI18n();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api('POST', '/auth/login', { username, password });
      await onLogin();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const returnTo = encodeURIComponent(window.location.pathname + window.location.search);
  return (
    <main className="login" id="content">
      <div className="login-card">
        <div className="login-head">
          <img src="/favicon.svg" alt="" width="40" height="40" />
          <div>
            <h1>{t('login.title')}</h1>
            <p className="muted">{t('app.tagline')} · {info.version}</p>
          </div>
        </div>
        <form onSubmit={(e) => void submit(e)}>
          <Field label={t('login.username')}>{(id) => <input id={id} name="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} />}</Field>
          <Field label={t('login.password')}>
            {(id) => <input id={id} name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />}
          </Field>
          {error && (
            <p className="note error" role="alert">
              {t('login.failed', { message: error })}
            </p>
          )}
          <button type="submit" className="primary" disabled={busy}>
            {t('login.submit')}
          </button>
          <p className="muted small">{t('login.hint')}</p>
        </form>
        {info.authentication.oidc && (
          <>
            <p className="or">{t('login.or')}</p>
            <a className="button" href={`/api/v1/auth/oidc/login?returnTo=${returnTo}`}>
              {t('login.oidc')}
            </a>
          </>
        )}
        <Preferences theme={theme} setTheme={setTheme} />
      </div>
    </main>
  );
}
