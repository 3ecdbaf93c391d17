import { useEffect, useState, type FormEvent, type ReactNode } from 'react';
import { api, type QuotaLimits } from '../api';
import { LimitFields, draftLimits, limitsDraft } from '../components/quota';
import { ErrorNote, Field, Notice, useLoad } from '../components/ui';
import { useI18n, type MessageKey } from '../i18n';

const features = ['webhook', 'replication', 'proxyCache', 'scanner', 'oidc', 'preheat'] as const;
type Feature = (typeof features)[number];
type Allow = { allowCidrs: string[] } & Record<Feature, { allowCidrs: string[] }>;
const subjects = ['anonymous', 'user', 'robot', 'project'] as const;
type LimitSet = Record<(typeof subjects)[number], number | null>;

interface RateLimits {
  enabled: boolean;
  windowSeconds: number;
  pull: LimitSet;
  api: LimitSet;
}

interface Settings {
  outbound: Allow;
  outboundFromFile: Allow;
  rateLimits: RateLimits;
  rateLimitsFrom: 'file' | 'settings';
  /** The quota a new project gets. */
  quotaDefaults: QuotaLimits;
  quotaDefaultsFrom: 'file' | 'settings';
}

/** System settings an administrator changes while Berth runs (docs/hardening.md). */
export function SettingsPanel() {
  const { data, error, reload } = useLoad(() => api<Settings>('GET', '/system/settings'), []);
  return (
    <>
      <ErrorNote message={error} />
      {data && (
        <>
          <OutboundForm settings={data} onSaved={reload} />
          <RateLimitForm settings={data} onSaved={reload} />
          <QuotaDefaultsForm settings={data} onSaved={reload} />
        </>
      )}
    </>
  );
}

const lines = (list: string[]) => list.join('\n');
const parseLines = (text: string) =>
  text
    .split(/[\n,]/)
    .map((l) => l.trim())
    .filter((l) => l !== '');

function OutboundForm({ settings, onSaved }: { settings: Settings; onSaved: () => void }) {
  const { t } = useI18n();
  const [all, setAll] = useState(lines(settings.outbound.allowCidrs));
  const [perFeature, setPerFeature] = useState<Record<Feature, string>>(() => Object.fromEntries(features.map((f) => [f, lines(settings.outbound[f].allowCidrs)])) as Record<Feature, string>);
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      await api('PATCH', '/system/settings', {
        outbound: { allowCidrs: parseLines(all), ...Object.fromEntries(features.map((f) => [f, { allowCidrs: parseLines(perFeature[f]) }])) },
      });
      setNotice(t('settings.saved'));
      onSaved();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const fromFile = (list: string[]) => (list.length > 0 ? t('settings.fromFile', { cidrs: list.join(', ') }) : undefined);
  return (
    <form onSubmit={(e) => void save(e)} className="settings">
      <h2>{t('settings.outbound')}</h2>
      <p className="muted">{t('settings.outboundHelp')}</p>
      <Field label={t('settings.allFeatures')} help={fromFile(settings.outboundFromFile.allowCidrs)}>
        {(id) => <textarea id={id} rows={2} value={all} onChange={(e) => setAll(e.target.value)} />}
      </Field>
      {features.map((feature) => (
        <Field key={feature} label={t(`settings.feature.${feature}` as MessageKey)} help={fromFile(settings.outboundFromFile[feature].allowCidrs)}>
          {(id) => <textarea id={id} rows={2} value={perFeature[feature]} onChange={(e) => setPerFeature({ ...perFeature, [feature]: e.target.value })} />}
        </Field>
      ))}
      <SaveRow error={error} notice={notice} />
    </form>
  );
}

/** The outcome of the last save, and the save button (with `children` beside it). */
function SaveRow({ error, notice, children }: { error?: string; notice?: string; children?: ReactNode }) {
  const { t } = useI18n();
  return (
    <>
      <ErrorNote message={error} />
      {notice && <Notice>{notice}</Notice>}
      <div className="buttons left">
        <button type="submit" className="primary">
          {t('common.save')}
        </button>
        {children}
      </div>
    </>
  );
}

function RateLimitForm({ settings, onSaved }: { settings: Settings; onSaved: () => void }) {
  const { t } = useI18n();
  const [limits, setLimits] = useState<RateLimits>(settings.rateLimits);
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  useEffect(() => setLimits(settings.rateLimits), [settings.rateLimits]);
  const send = async (rateLimits: RateLimits | null) => {
    setError(undefined);
    try {
      await api('PATCH', '/system/settings', { rateLimits });
      setNotice(t('settings.saved'));
      onSaved();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const setLimit = (category: 'pull' | 'api', subject: (typeof subjects)[number], value: string) =>
    setLimits({ ...limits, [category]: { ...limits[category], [subject]: value.trim() === '' ? null : Number(value) } });
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void send(limits);
      }}
      className="settings"
    >
      <h2>{t('settings.rateLimits')}</h2>
      <p className="muted">
        {t('settings.rateLimitsHelp')} <span className="badge">{t(`settings.from.${settings.rateLimitsFrom}`)}</span>
      </p>
      <div className="field checkbox">
        <label>
          <input type="checkbox" checked={limits.enabled} onChange={(e) => setLimits({ ...limits, enabled: e.target.checked })} /> {t('settings.enabled')}
        </label>
      </div>
      <Field label={t('settings.window')}>
        {(id) => <input id={id} type="number" min={1} required value={limits.windowSeconds} onChange={(e) => setLimits({ ...limits, windowSeconds: Number(e.target.value) })} />}
      </Field>
      <table>
        <thead>
          <tr>
            <th scope="col" />
            {subjects.map((s) => (
              <th scope="col" key={s}>
                {t(`settings.subject.${s}`)}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {(['pull', 'api'] as const).map((category) => (
            <tr key={category}>
              <th scope="row">{t(`settings.${category}`)}</th>
              {subjects.map((subject) => (
                <td key={subject}>
                  <input
                    type="number"
                    min={0}
                    aria-label={`${t(`settings.${category}`)} · ${t(`settings.subject.${subject}`)}`}
                    value={limits[category][subject] ?? ''}
                    onChange={(e) => setLimit(category, subject, e.target.value)}
                  />
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      <SaveRow error={error} notice={notice}>
        {settings.rateLimitsFrom === 'settings' && (
          <button type="button" onClick={() => void send(null)}>
            {t('settings.resetToFile')}
          </button>
        )}
      </SaveRow>
    </form>
  );
}

/** The quota of projects created from now on; null returns to the config file's. */
function QuotaDefaultsForm({ settings, onSaved }: { settings: Settings; onSaved: () => void }) {
  const { t } = useI18n();
  const [draft, setDraft] = useState(() => limitsDraft(settings.quotaDefaults));
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  useEffect(() => setDraft(limitsDraft(settings.quotaDefaults)), [settings.quotaDefaults]);
  const send = async (quotaDefaults: QuotaLimits | null) => {
    setError(undefined);
    try {
      await api('PATCH', '/system/settings', { quotaDefaults });
      setNotice(t('settings.saved'));
      onSaved();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void send(draftLimits(draft));
      }}
      className="settings"
    >
      <h2>{t('settings.quotaDefaults')}</h2>
      <p className="muted">
        {t('settings.quotaDefaultsHelp')} <span className="badge">{t(`settings.from.${settings.quotaDefaultsFrom}`)}</span>
      </p>
      <LimitFields draft={draft} onChange={setDraft} />
      <SaveRow error={error} notice={notice}>
        {settings.quotaDefaultsFrom === 'settings' && (
          <button type="button" onClick={() => void send(null)}>
            {t('settings.resetToFile')}
          </button>
        )}
      </SaveRow>
    </form>
  );
}
