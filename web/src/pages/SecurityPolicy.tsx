import { useEffect, useState, type FormEvent } from 'react';
import { api, type Page, type PolicySeverity, type Robot, type SecurityPolicy as Policy } from '../api';
import { Checkbox } from '../components/rules';
import { ErrorNote, Field, Notice, useLoad } from '../components/ui';
import { useI18n } from '../i18n';

const bars: PolicySeverity[] = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];
/** As the server allows (src/http/api/security-routes.ts). */
const maxAllowlist = 1000;

/** The date an expiry falls on (UTC), as a date input shows it. */
const dayOf = (iso: string | undefined) => (iso ? new Date(iso).toISOString().slice(0, 10) : '');

/** The policy as the API stores it when written by hand: `expiresAt` only when set, ids trimmed. */
function canonicalPolicy(policy: Policy): Policy {
  return { ...policy, allowlist: policy.allowlist.map((e) => ({ id: e.id.trim(), ...(e.expiresAt ? { expiresAt: e.expiresAt } : {}) })) };
}

/**
 * A project's security policy (docs/vulnerabilities.md, "Pull policies"): scan on push, the pull
 * policies, the CVE allowlist and the robots they never refuse. Members who may read policies see
 * it; those who may manage them edit it.
 */
export function SecurityPolicy({ project, canManage, canListRobots }: { project: string; canManage: boolean; canListRobots: boolean }) {
  const { t } = useI18n();
  const { data, error: loadError } = useLoad(() => api<Policy>('GET', `/projects/${project}/security-policy`), [project]);
  // Only members who may read robots list them; the others see the names the policy holds.
  const { data: robots } = useLoad(() => (canListRobots ? api<Page<Robot>>('GET', `/projects/${project}/robots?page_size=100`) : Promise.resolve(undefined)), [project, canListRobots]);
  const [policy, setPolicy] = useState<Policy>();
  const [otherRobot, setOtherRobot] = useState('');
  const [extraRobots, setExtraRobots] = useState<string[]>([]);
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  useEffect(() => {
    if (data) setPolicy(data);
  }, [data]);
  const known = [...new Set([...(robots?.items.map((r) => r.name) ?? []), ...(data?.exemptRobots ?? []), ...extraRobots])];
  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (!policy) return;
    setError(undefined);
    setNotice(undefined);
    try {
      setPolicy(await api<Policy>('PUT', `/projects/${project}/security-policy`, canonicalPolicy(policy)));
      setNotice(t('security.saved'));
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const set = (change: Partial<Policy>) => policy && setPolicy({ ...policy, ...change });
  const setEntry = (index: number, entry: Policy['allowlist'][number]) => policy && set({ allowlist: policy.allowlist.map((x, i) => (i === index ? entry : x)) });
  const exempt = (name: string, on: boolean) => policy && set({ exemptRobots: on ? [...new Set([...policy.exemptRobots, name])] : policy.exemptRobots.filter((r) => r !== name) });
  const now = Date.now();
  return (
    <section aria-labelledby="security-policy-title">
      <h2 id="security-policy-title">{t('security.title')}</h2>
      <p className="muted">{t('security.help')}</p>
      <ErrorNote message={loadError} />
      {policy && (
        <form onSubmit={(e) => void save(e)} className="policy">
          <fieldset className="plain" disabled={!canManage}>
            <Checkbox label={t('security.scanOnPush')} checked={policy.scanOnPush} onChange={(scanOnPush) => set({ scanOnPush })} />
            <Checkbox label={t('security.sbomOnPush')} checked={policy.sbomOnPush} onChange={(sbomOnPush) => set({ sbomOnPush })} />
            <div className="limit-fields">
              <Field label={t('security.preventVulnerable')} help={t('security.preventVulnerableHelp')}>
                {(id) => (
                  <select id={id} value={policy.preventVulnerable ?? ''} onChange={(e) => set({ preventVulnerable: (e.target.value || null) as PolicySeverity | null })}>
                    <option value="">{t('security.off')}</option>
                    {bars.map((s) => (
                      <option key={s} value={s}>
                        {t('security.orHigher', { severity: t(`severity.${s}`) })}
                      </option>
                    ))}
                  </select>
                )}
              </Field>
            </div>
            <Checkbox label={t('security.preventUnscanned')} checked={policy.preventUnscanned} onChange={(preventUnscanned) => set({ preventUnscanned })} />
            <Checkbox label={t('security.preventUnsigned')} checked={policy.preventUnsigned} onChange={(preventUnsigned) => set({ preventUnsigned })} />
            <p className="muted small">
              {t('security.trustSummary', {
                keys: String(policy.trust?.cosign?.publicKeys?.length ?? 0),
                identities: String(policy.trust?.cosign?.keyless?.identities?.length ?? 0),
                certificates: String(policy.trust?.notation?.trustStore?.length ?? 0),
              })}
            </p>

            <h3>{t('security.allowlist')}</h3>
            <p className="muted small">{t('security.allowlistHelp')}</p>
            {policy.allowlist.length === 0 ? (
              <p className="muted">{t('security.allowlistEmpty')}</p>
            ) : (
              <table className="allowlist">
                <thead>
                  <tr>
                    <th scope="col">{t('vulns.id')}</th>
                    <th scope="col">{t('robots.expires')}</th>
                    {canManage && <th scope="col">{t('common.actions')}</th>}
                  </tr>
                </thead>
                <tbody>
                  {policy.allowlist.map((entry, index) => (
                    <tr key={index}>
                      <td>
                        <input aria-label={t('security.entryId', { n: index + 1 })} required maxLength={100} placeholder="CVE-2024-12345" value={entry.id} onChange={(e) => setEntry(index, { ...entry, id: e.target.value })} />
                      </td>
                      <td>
                        <input
                          type="date"
                          aria-label={t('security.entryExpires', { n: index + 1 })}
                          value={dayOf(entry.expiresAt)}
                          onChange={(e) => setEntry(index, { id: entry.id, ...(e.target.value ? { expiresAt: `${e.target.value}T00:00:00.000Z` } : {}) })}
                        />
                        {entry.expiresAt && Date.parse(entry.expiresAt) <= now && <span className="badge status-failed">{t('security.expired')}</span>}
                      </td>
                      {canManage && (
                        <td>
                          <button type="button" className="danger" onClick={() => set({ allowlist: policy.allowlist.filter((_, i) => i !== index) })}>
                            {t('security.removeEntry', { n: index + 1 })}
                          </button>
                        </td>
                      )}
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {canManage && (
              <div className="buttons left">
                <button type="button" onClick={() => set({ allowlist: [...policy.allowlist, { id: '' }] })} disabled={policy.allowlist.length >= maxAllowlist}>
                  {t('security.addEntry')}
                </button>
              </div>
            )}

            <h3>{t('security.exemptRobots')}</h3>
            <p className="muted small">{t('security.exemptRobotsHelp')}</p>
            {known.length === 0 && robots && <p className="muted">{t('security.noRobots')}</p>}
            <div className="robot-list">
              {known.map((name) => (
                <Checkbox key={name} label={name} checked={policy.exemptRobots.includes(name)} onChange={(on) => exempt(name, on)} />
              ))}
            </div>
            {canManage && (
              <div className="inline-form">
                <label>
                  {t('security.otherRobot')} <input value={otherRobot} placeholder={`robot$${project}+ci`} onChange={(e) => setOtherRobot(e.target.value)} />
                </label>
                <button
                  type="button"
                  disabled={!otherRobot.trim()}
                  onClick={() => {
                    const name = otherRobot.trim();
                    setExtraRobots([...extraRobots, name]);
                    exempt(name, true);
                    setOtherRobot('');
                  }}
                >
                  {t('security.addRobot')}
                </button>
              </div>
            )}
          </fieldset>
          <ErrorNote message={error} />
          {notice && <Notice>{notice}</Notice>}
          {canManage ? (
            <div className="buttons left">
              <button type="submit" className="primary">
                {t('common.save')}
              </button>
            </div>
          ) : (
            <p className="muted small">{t('policies.readOnly')}</p>
          )}
        </form>
      )}
    </section>
  );
}
