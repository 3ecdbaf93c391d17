import { useEffect, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { api, lintSeverities, type LintPolicy, type LintReport, type LintRule, type LintSeverity, type LintSummary } from '../api';
import { Checkbox } from '../components/rules';
import { ErrorNote, Notice, useLoad } from '../components/ui';
import { useI18n } from '../i18n';

/** A lint severity, coloured as bad as it is; with `count`, how many findings have it (a zero is not coloured). */
function LintBadge({ severity, count }: { severity: LintSeverity; count?: number }) {
  const { t } = useI18n();
  return (
    <span className={`badge lint${count === 0 ? '' : ` lint-${severity}`}`}>
      {t(`lint.severity.${severity}`)}
      {count !== undefined && <strong> {count}</strong>}
    </span>
  );
}

/** A rule's text with its `backticked` commands and paths as code, as docs/insights.md writes them. */
function RuleText({ text }: { text: string }) {
  return <>{text.split('`').map((part, i) => (i % 2 === 1 ? <code key={i}>{part}</code> : part))}</>;
}

/** The rules with their explanations (public, never changes while the page is open). */
const useRules = () => useLoad(() => api<LintRule[]>('GET', '/lint/rules'), []);

/**
 * An image's best-practice lint report (docs/insights.md): findings grouped by severity, worst
 * first, each with its rule id, the evidence and the fix, its rule's explanation a click away.
 * The project's disabled rules are left out, as the API leaves them out.
 */
export function BestPractices({ base, digest, project, isIndex, canReadPolicies }: { base: string; digest: string; project: string; isIndex: boolean; canReadPolicies: boolean }) {
  const { t } = useI18n();
  const path = `${base}/artifacts/${digest}`;
  const { data: report, error } = useLoad(() => (isIndex ? Promise.resolve(undefined) : api<LintReport>('GET', `${path}/lint`)), [path, isIndex]);
  const { data: rules } = useRules();
  const explanation = new Map(rules?.map((r) => [r.id, r.explanation]));
  const omitted = Object.entries(report?.omitted ?? {}).filter(([, n]) => n > 0);
  return (
    <section aria-labelledby="lint-title">
      <h2 id="lint-title">{t('lint.title')}</h2>
      {isIndex && <p className="muted">{t('lint.index')}</p>}
      <ErrorNote message={error} />
      {!isIndex && !report && !error && <p className="loading">{t('common.loading')}</p>}
      {report && (
        <>
          <p className="severity-counts" aria-label={t('lint.counts')}>
            {lintSeverities.map((s) => (
              <LintBadge key={s} severity={s} count={report.summary[s]} />
            ))}
          </p>
          {report.disabledRules.length > 0 && (
            <p className="muted small">
              {t('lint.disabled', { count: report.disabledRules.length, rules: report.disabledRules.join(', ') })}{' '}
              {canReadPolicies && <Link to={`/projects/${project}?tab=lint`}>{t('lint.policyLink')}</Link>}
            </p>
          )}
          {report.findings.length === 0 && <p className="muted">{t('lint.none')}</p>}
          {lintSeverities.map((severity) => {
            const findings = report.findings.filter((f) => f.severity === severity);
            if (findings.length === 0) return null;
            return (
              <div key={severity} className={`lint-group lint-group-${severity}`}>
                <h3>{t(`lint.group.${severity}`, { count: findings.length })}</h3>
                <table className="lint-findings">
                  <thead>
                    <tr>
                      <th scope="col">{t('lint.rule')}</th>
                      <th scope="col">{t('lint.finding')}</th>
                      <th scope="col">{t('lint.evidence')}</th>
                      <th scope="col">{t('lint.fix')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {findings.map((f, i) => (
                      <tr key={`${f.rule}\n${i}`}>
                        <td>
                          <code>{f.rule}</code>
                        </td>
                        <td>
                          <details>
                            <summary>{f.title}</summary>
                            <p className="small">{explanation.has(f.rule) ? <RuleText text={explanation.get(f.rule)!} /> : t('common.loading')}</p>
                          </details>
                        </td>
                        <td>{f.message}</td>
                        <td className="small">
                          <RuleText text={f.fix} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            );
          })}
          {omitted.map(([rule, count]) => (
            <p key={rule} className="muted small">
              {t('lint.omitted', { count, rule })}
            </p>
          ))}
        </>
      )}
    </section>
  );
}

/**
 * A project's best practices: findings per rule over its tagged images, and the rules it checks
 * (docs/insights.md, "API"). Members read the summary; those who may read policies see which rules
 * are switched off, and those who may manage them switch rules on and off.
 */
export function ProjectBestPractices({ project, canReadPolicies, canManage }: { project: string; canReadPolicies: boolean; canManage: boolean }) {
  const { t } = useI18n();
  const { data: summary, error, reload } = useLoad(() => api<LintSummary>('GET', `/projects/${project}/lint-summary`), [project]);
  return (
    <>
      <section aria-labelledby="lint-summary-title">
        <h2 id="lint-summary-title">{t('lint.summaryTitle')}</h2>
        <p className="muted">{t('lint.summaryHelp')}</p>
        <ErrorNote message={error} />
        {!summary && !error && <p className="loading">{t('common.loading')}</p>}
        {summary && (
          <>
            <p className="lint-scope">
              {t('lint.scope', { images: summary.images, skipped: summary.skipped })}
              {summary.truncated && <span className="muted"> {t('lint.truncated')}</span>}
            </p>
            {summary.failed.map((f) => (
              <p key={`${f.repository}@${f.digest}`} className="note error">
                {t('lint.failed', { image: `${f.repository}@${f.digest.slice(0, 19)}`, error: f.error })}
              </p>
            ))}
            <table className="lint-summary">
              <thead>
                <tr>
                  <th scope="col">{t('lint.rule')}</th>
                  <th scope="col">{t('vulns.severity')}</th>
                  <th scope="col">{t('lint.finding')}</th>
                  <th scope="col">{t('lint.images')}</th>
                  <th scope="col">{t('lint.findings')}</th>
                </tr>
              </thead>
              <tbody>
                {summary.rules.map((r) => (
                  <tr key={r.id} className={r.images === 0 ? 'muted' : undefined}>
                    <td>
                      <code>{r.id}</code>
                    </td>
                    <td>
                      <LintBadge severity={r.severity} />
                    </td>
                    <td>{r.title}</td>
                    <td>{r.images}</td>
                    <td>{r.findings}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </section>
      {canReadPolicies && <LintPolicyEditor project={project} canManage={canManage} onSaved={reload} />}
    </>
  );
}

/** The rules the project checks: one checkbox per rule; unchecked ones are the policy's disabled rules. */
function LintPolicyEditor({ project, canManage, onSaved }: { project: string; canManage: boolean; onSaved: () => void }) {
  const { t } = useI18n();
  const { data: rules, error: rulesError } = useRules();
  const { data, error: loadError } = useLoad(() => api<LintPolicy>('GET', `/projects/${project}/lint-policy`), [project]);
  const [disabled, setDisabled] = useState<string[]>();
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  useEffect(() => {
    if (data) setDisabled(data.disabledRules);
  }, [data]);
  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (!disabled) return;
    setError(undefined);
    setNotice(undefined);
    try {
      // In the rules' order, as a reader of the API would expect.
      const order = rules?.map((r) => r.id) ?? [];
      const sorted = [...disabled].sort((a, b) => order.indexOf(a) - order.indexOf(b));
      setDisabled((await api<LintPolicy>('PUT', `/projects/${project}/lint-policy`, { disabledRules: sorted })).disabledRules);
      setNotice(t('lint.saved'));
      onSaved();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <section aria-labelledby="lint-policy-title">
      <h2 id="lint-policy-title">{t('lint.policyTitle')}</h2>
      <p className="muted">{t('lint.policyHelp')}</p>
      <ErrorNote message={rulesError ?? loadError} />
      {rules && disabled && (
        <form onSubmit={(e) => void save(e)} className="policy">
          <fieldset className="plain lint-rules" disabled={!canManage}>
            <legend className="visually-hidden">{t('lint.policyTitle')}</legend>
            {rules.map((r) => (
              <div key={r.id} className="lint-rule">
                <Checkbox label={`${r.id} · ${r.title}`} checked={!disabled.includes(r.id)} onChange={(on) => setDisabled(on ? disabled.filter((id) => id !== r.id) : [...disabled, r.id])} />
                <LintBadge severity={r.severity} />
              </div>
            ))}
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
