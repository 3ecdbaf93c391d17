import { useCallback, useEffect, useMemo, useState } from 'react';
import { BrowserRouter, Link, NavLink, Navigate, Route, Routes } from 'react-router';
import { api, ApiError, type SystemInfo, type User } from './api';
import { I18nProvider, browserLanguage, makeI18n, useI18n, type Language } from './i18n';
import { Login } from './pages/Login';
import { Projects } from './pages/Projects';
import { ProjectPage } from './pages/Project';
import { RepositoryPage } from './pages/Repository';
import { ArtifactPage } from './pages/Artifact';
import { Users } from './pages/Users';
import { AuditPage } from './pages/Audit';
import { SystemPage } from './pages/System';
import { Account } from './pages/Account';
import { SearchPage } from './pages/Search';
import { ExecutionPage, ReplicationPage } from './pages/Replication';

type Theme = 'light' | 'dark' | 'system';

export interface Session {
  user: User;
  info: SystemInfo;
  refresh: () => Promise<void>;
}

function applyTheme(theme: Theme) {
  const dark = theme === 'dark' || (theme === 'system' && window.matchMedia('(prefers-color-scheme: dark)').matches);
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
}

export function App() {
  const [user, setUser] = useState<User | null | undefined>(undefined);
  const [info, setInfo] = useState<SystemInfo>();
  const [language, setLanguageState] = useState<Language>(() => (localStorage.getItem('berth.language') as Language | null) ?? browserLanguage());
  const [theme, setThemeState] = useState<Theme>(() => (localStorage.getItem('berth.theme') as Theme | null) ?? 'system');

  const refresh = useCallback(async () => {
    try {
      const { user: me } = await api<{ user: User | null }>('GET', '/auth/session');
      setUser(me);
      if (me?.preferences.language) setLanguageState(me.preferences.language);
      if (me?.preferences.theme) setThemeState(me.preferences.theme);
    } catch (err) {
      // A session cookie that no longer verifies (expired, account gone): log in again.
      if (err instanceof ApiError && err.status === 401) setUser(null);
      else throw err;
    }
  }, []);

  useEffect(() => {
    void api<SystemInfo>('GET', '/system/info').then(setInfo);
    void refresh();
  }, [refresh]);

  useEffect(() => {
    document.documentElement.lang = language;
    localStorage.setItem('berth.language', language);
  }, [language]);
  useEffect(() => {
    applyTheme(theme);
    localStorage.setItem('berth.theme', theme);
  }, [theme]);

  // Preferences follow the account, so they are the same on every browser the user logs in from.
  const setLanguage = useCallback(
    (l: Language) => {
      setLanguageState(l);
      if (user) void api('PATCH', '/users/current/preferences', { language: l });
    },
    [user],
  );
  const setTheme = useCallback(
    (t: Theme) => {
      setThemeState(t);
      if (user) void api('PATCH', '/users/current/preferences', { theme: t });
    },
    [user],
  );
  const i18n = useMemo(() => makeI18n(language, setLanguage), [language, setLanguage]);

  return (
    <I18nProvider value={i18n}>
      <BrowserRouter>
        {user === undefined || !info ? (
          <p className="loading">{i18n.t('common.loading')}</p>
        ) : user === null ? (
          <Login info={info} onLogin={refresh} theme={theme} setTheme={setTheme} />
        ) : (
          <Shell session={{ user, info, refresh }} theme={theme} setTheme={setTheme} onLogout={() => setUser(null)} />
        )}
      </BrowserRouter>
    </I18nProvider>
  );
}

export function Preferences({ theme, setTheme }: { theme: Theme; setTheme: (t: Theme) => void }) {
  const { t, language, setLanguage } = useI18n();
  return (
    <div className="preferences">
      <label>
        <span className="visually-hidden">{t('lang.label')}</span>
        <select aria-label={t('lang.label')} value={language} onChange={(e) => setLanguage(e.target.value as Language)}>
          <option value="en">English</option>
          <option value="zh-CN">简体中文</option>
        </select>
      </label>
      <label>
        <span className="visually-hidden">{t('theme.label')}</span>
        <select aria-label={t('theme.label')} value={theme} onChange={(e) => setTheme(e.target.value as Theme)}>
          <option value="system">{t('theme.system')}</option>
          <option value="light">{t('theme.light')}</option>
          <option value="dark">{t('theme.dark')}</option>
        </select>
      </label>
    </div>
  );
}

function Shell({ session, theme, setTheme, onLogout }: { session: Session; theme: Theme; setTheme: (t: Theme) => void; onLogout: () => void }) {
  const { t } = useI18n();
  const admin = session.user.isAdmin;
  const logout = async () => {
    await api('POST', '/auth/logout');
    onLogout();
  };
  return (
    <>
      <a href="#content" className="skip">
        {t('nav.skip')}
      </a>
      <header className="topbar">
        <Link to="/projects" className="brand" aria-label={t('app.name')}>
          <img src="/favicon.svg" alt="" width="24" height="24" />
          <span>{t('app.name')}</span>
        </Link>
        <nav aria-label={t('nav.main')}>
          <NavLink to="/projects">{t('nav.projects')}</NavLink>
          <NavLink to="/search">{t('nav.search')}</NavLink>
          {admin && <NavLink to="/users">{t('nav.users')}</NavLink>}
          {admin && <NavLink to="/replication">{t('nav.replication')}</NavLink>}
          {admin && <NavLink to="/audit">{t('nav.audit')}</NavLink>}
          {admin && <NavLink to="/system">{t('nav.system')}</NavLink>}
          <NavLink to="/account">{t('nav.account')}</NavLink>
        </nav>
        <Preferences theme={theme} setTheme={setTheme} />
        <span className="whoami">{session.user.username}</span>
        <button type="button" onClick={() => void logout()}>
          {t('nav.logout')}
        </button>
      </header>
      <main id="content" tabIndex={-1}>
        <Routes>
          <Route path="/" element={<Navigate to="/projects" replace />} />
          <Route path="/projects" element={<Projects session={session} />} />
          <Route path="/projects/:project" element={<ProjectPage session={session} />} />
          <Route path="/projects/:project/repositories/:repository" element={<RepositoryPage session={session} />} />
          <Route path="/projects/:project/repositories/:repository/artifacts/:reference" element={<ArtifactPage session={session} />} />
          {admin && <Route path="/users" element={<Users session={session} />} />}
          {admin && <Route path="/replication" element={<ReplicationPage />} />}
          {admin && <Route path="/replication/executions/:id" element={<ExecutionPage />} />}
          {admin && <Route path="/audit" element={<AuditPage />} />}
          {admin && <Route path="/system" element={<SystemPage session={session} />} />}
          <Route path="/search" element={<SearchPage />} />
          <Route path="/account" element={<Account session={session} />} />
          <Route path="*" element={<Navigate to="/projects" replace />} />
        </Routes>
      </main>
    </>
  );
}
