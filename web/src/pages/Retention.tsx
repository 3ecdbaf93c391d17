import { useState, type FormEvent } from 'react';
import { api, keepKinds, query, type KeepKind, type Page, type RetentionDecision, type RetentionPolicy, type RetentionRule, type RetentionRun, type RetentionRunDetail } from '../api';
import { Checkbox, RuleFieldset, SelectorFields, canonicalSelector, maxRules } from '../components/rules';
import { ConfirmButton, ErrorNote, Field, Notice, Pagination, RunStatusBadge, isActive, shortDigest, useLoad, usePolling } from '../components/ui';
import { useI18n, type I18n, type MessageKey } from '../i18n';

const countKinds: ReadonlySet<KeepKind> = new Set(['latestPushed', 'latestPulled', 'highestSemver']);
const newRule: RetentionRule = { repositories: { pattern: '**' }, tags: { pattern: '**' }, untagged: false, keep: { kind: 'latestPushed', value: 10 } };

/** A project's retention policy, its runs and their reports (docs/lifecycle.md, "Retention"). */
export function Retention({ project, canManage }: { project: string; canManage: boolean }) {
  const { t } = useI18n();
  const { data, error } = useLoad(() => api<RetentionPolicy>('GET', `/projects/${project}/retention`), [project]);
  return (
    <section aria-labelledby="retention-title">
      <h2 id="retention-title">{t('retention.title')}</h2>
      <p className="muted">{t('retention.help')}</p>
      <ErrorNote message={error} />
      {data && <RetentionEditor key={project} project={project} policy={data} canManage={canManage} />}
    </section>
  );
}

/** The policy as edited, and the runs (which use the saved policy, so they wait for a save). */
function RetentionEditor({ project, policy, canManage }: { project: string; policy: RetentionPolicy; canManage: boolean }) {
  const [saved, setSaved] = useState(policy);
  const [draft, setDraft] = useState(policy);
  const unsaved = JSON.stringify(saved) !== JSON.stringify(draft);
  return (
    <>
      <RetentionForm
        project={project}
        draft={draft}
        onChange={setDraft}
        onSaved={(stored) => {
          setSaved(stored);
          setDraft(stored);
        }}
        canManage={canManage}
      />
      <RetentionRuns project={project} canRun={canManage} unsaved={unsaved} />
    </>
  );
}

/** The policy as the API stores it when written by hand: no empty options. */
function canonicalPolicy(policy: RetentionPolicy): RetentionPolicy {
  return {
    rules: policy.rules.map((rule) => ({
      repositories: canonicalSelector(rule.repositories),
      tags: canonicalSelector(rule.tags),
      untagged: rule.untagged,
      keep: rule.keep.kind === 'always' ? { kind: 'always' } : { kind: rule.keep.kind, value: rule.keep.value ?? 0 },
      ...(rule.disabled ? { disabled: true } : {}),
    })),
    schedule: policy.schedule.trim(),
  };
}

function RetentionForm({
  project,
  draft,
  onChange,
  onSaved,
  canManage,
}: {
  project: string;
  draft: RetentionPolicy;
  onChange: (policy: RetentionPolicy) => void;
  onSaved: (policy: RetentionPolicy) => void;
  canManage: boolean;
}) {
  const { t } = useI18n();
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const setRule = (index: number, rule: RetentionRule) => onChange({ ...draft, rules: draft.rules.map((r, i) => (i === index ? rule : r)) });
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setNotice(undefined);
    try {
      onSaved(await api<RetentionPolicy>('PUT', `/projects/${project}/retention`, canonicalPolicy(draft)));
      setNotice(t('retention.saved'));
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <form onSubmit={(e) => void save(e)} className="policy">
      <fieldset className="plain" disabled={!canManage}>
        {draft.rules.length === 0 && <p className="muted">{t('retention.empty')}</p>}
        {draft.rules.map((rule, index) => (
          <RetentionRuleFields
            key={index}
            index={index}
            rule={rule}
            onChange={(r) => setRule(index, r)}
            onRemove={canManage ? () => onChange({ ...draft, rules: draft.rules.filter((_, i) => i !== index) }) : undefined}
          />
        ))}
        {canManage && (
          <div className="buttons left">
            <button type="button" onClick={() => onChange({ ...draft, rules: [...draft.rules, newRule] })} disabled={draft.rules.length >= maxRules}>
              {t('policies.addRule')}
            </button>
            {draft.rules.length >= maxRules && <span className="muted small">{t('policies.maxRules', { max: maxRules })}</span>}
          </div>
        )}
        <Field label={t('retention.schedule')} help={t('retention.scheduleHelp')}>
          {(id) => <input id={id} maxLength={100} placeholder="0 3 * * 0" value={draft.schedule} onChange={(e) => onChange({ ...draft, schedule: e.target.value })} />}
        </Field>
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
  );
}

function RetentionRuleFields({ index, rule, onChange, onRemove }: { index: number; rule: RetentionRule; onChange: (rule: RetentionRule) => void; onRemove?: () => void }) {
  const { t } = useI18n();
  const setKind = (kind: KeepKind) => {
    if (kind === 'always') return onChange({ ...rule, keep: { kind } });
    // A count and a number of days are different things: switching between them starts afresh.
    const sameMeasure = rule.keep.kind !== 'always' && countKinds.has(kind) === countKinds.has(rule.keep.kind);
    onChange({ ...rule, keep: { kind, value: sameMeasure ? rule.keep.value : countKinds.has(kind) ? 10 : 30 } });
  };
  return (
    <RuleFieldset index={index} onRemove={onRemove}>
      <div className="rule-grid">
        <SelectorFields kind="repositories" value={rule.repositories} onChange={(repositories) => onChange({ ...rule, repositories })} />
        <SelectorFields kind="tags" value={rule.tags} onChange={(tags) => onChange({ ...rule, tags })} />
      </div>
      <Checkbox label={t('retention.untagged')} checked={rule.untagged} onChange={(untagged) => onChange({ ...rule, untagged })} />
      <div className="rule-grid">
        <Field label={t('retention.keep')}>
          {(id) => (
            <select id={id} value={rule.keep.kind} onChange={(e) => setKind(e.target.value as KeepKind)}>
              {keepKinds.map((kind) => (
                <option key={kind} value={kind}>
                  {t(`retention.keep.${kind}`)}
                </option>
              ))}
            </select>
          )}
        </Field>
        {rule.keep.kind !== 'always' && (
          <Field label={countKinds.has(rule.keep.kind) ? t('retention.count') : t('retention.days')}>
            {(id) => (
              <input
                id={id}
                type="number"
                required
                min={0}
                max={100_000}
                step={1}
                value={rule.keep.value ?? ''}
                onChange={(e) => onChange({ ...rule, keep: { kind: rule.keep.kind, value: e.target.value === '' ? undefined : Number(e.target.value) } })}
              />
            )}
          </Field>
        )}
      </div>
      <Checkbox label={t('policies.ruleDisabled')} checked={rule.disabled === true} onChange={(disabled) => onChange({ ...rule, disabled })} />
    </RuleFieldset>
  );
}

/** Runs newest first, polled while one is queued or running; a run's report on demand. */
function RetentionRuns({ project, canRun, unsaved }: { project: string; canRun: boolean; unsaved: boolean }) {
  const { t, formatTime } = useI18n();
  const [page, setPage] = useState(1);
  const [selected, setSelected] = useState<number>();
  const [error, setError] = useState<string>();
  const { data, error: loadError, reload } = useLoad(() => api<Page<RetentionRun>>('GET', `/projects/${project}/retention/runs${query({ page, page_size: 10 })}`), [project, page]);
  const active = data?.items.some(isActive) ?? false;
  usePolling(active, reload);
  const start = async (dryRun: boolean) => {
    setError(undefined);
    try {
      const run = await api<RetentionRun>('POST', `/projects/${project}/retention/runs`, { dryRun });
      setSelected(run.id);
      setPage(1);
      reload();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <>
      <h3>{t('retention.runs')}</h3>
      {canRun && (
        <>
          <div className="buttons left">
            {/* Not held back while a run is active: the server queues runs of a project one after another. */}
            <button type="button" onClick={() => void start(true)} disabled={unsaved}>
              {t('retention.dryRun')}
            </button>
            <ConfirmButton label={t('retention.run')} question={t('retention.runConfirm')} onConfirm={() => start(false)} disabled={unsaved} />
          </div>
          {unsaved && <p className="muted small">{t('retention.unsaved')}</p>}
        </>
      )}
      <ErrorNote message={error ?? loadError} />
      {data && data.items.length === 0 && <p className="muted">{t('retention.noRuns')}</p>}
      {data && data.items.length > 0 && (
        <>
          <table className="retention-runs">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">{t('common.status')}</th>
                <th scope="col">{t('retention.kept')}</th>
                <th scope="col">{t('retention.deleted')}</th>
                <th scope="col">{t('run.by')}</th>
                <th scope="col">{t('run.finished')}</th>
                <th scope="col">{t('retention.report')}</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((run) => (
                <tr key={run.id} className={run.id === selected ? 'selected' : undefined}>
                  <td>{run.id}</td>
                  <td>
                    <RunStatusBadge status={run.status} />
                    {run.dryRun && <span className="badge">{t('run.dryRunBadge')}</span>}
                    {run.error && <div className="muted small">{run.error}</div>}
                  </td>
                  <td>{run.kept}</td>
                  <td>{run.deleted}</td>
                  <td>{run.triggeredBy}</td>
                  <td>{formatTime(run.finishedAt)}</td>
                  <td>
                    <button type="button" className="link" aria-pressed={run.id === selected} onClick={() => setSelected(run.id === selected ? undefined : run.id)}>
                      {t('retention.showReport', { id: run.id })}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pagination page={page} pageSize={10} total={data.total} onPage={setPage} />
        </>
      )}
      {selected !== undefined && <RetentionReport project={project} id={selected} status={data?.items.find((r) => r.id === selected)?.status} />}
    </>
  );
}

const reportPageSize = 25;

/** What a run decided for each artifact, and why. Fetched again when the run's status changes. */
function RetentionReport({ project, id, status }: { project: string; id: number; status: RetentionRun['status'] | undefined }) {
  const { t } = useI18n();
  const [page, setPage] = useState(1);
  const { data, error } = useLoad(() => api<RetentionRunDetail>('GET', `/projects/${project}/retention/runs/${id}`), [project, id, status]);
  const report = data?.report ?? null;
  return (
    <section aria-labelledby="retention-report">
      <h3 id="retention-report">{t('retention.reportTitle', { id })}</h3>
      <ErrorNote message={error} />
      {data && isActive(data) && <p className="muted">{t('retention.reportPending')}</p>}
      {data && data.dryRun && <p className="muted">{t('retention.reportDryRun')}</p>}
      {data && !isActive(data) && report?.length === 0 && <p className="muted">{t('retention.reportEmpty')}</p>}
      {/* The server keeps the first 5,000 entries of a report. */}
      {data && report && report.length < data.kept + data.deleted && <p className="muted">{t('retention.reportTruncated', { shown: report.length, total: data.kept + data.deleted })}</p>}
      {data && report && report.length > 0 && (
        <>
          <table className="retention-report">
            <thead>
              <tr>
                <th scope="col">{t('retention.repository')}</th>
                <th scope="col">{t('artifact.tags')}</th>
                <th scope="col">{t('artifact.digest')}</th>
                <th scope="col">{t('retention.action')}</th>
                <th scope="col">{t('retention.reason')}</th>
              </tr>
            </thead>
            <tbody>
              {report.slice((page - 1) * reportPageSize, page * reportPageSize).map((entry) => (
                <ReportRow key={`${entry.repository}@${entry.digest}`} entry={entry} dryRun={data.dryRun} />
              ))}
            </tbody>
          </table>
          <Pagination page={page} pageSize={reportPageSize} total={report.length} onPage={setPage} />
        </>
      )}
    </section>
  );
}

function ReportRow({ entry, dryRun }: { entry: RetentionDecision; dryRun: boolean }) {
  const { t } = useI18n();
  const action = entry.action === 'keep' ? t('retention.action.keep') : dryRun ? t('retention.action.wouldDelete') : t('retention.action.delete');
  return (
    <tr>
      <td>{entry.repository}</td>
      <td>
        {entry.tags.length === 0 ? (
          <span className="muted">{t('artifact.untagged')}</span>
        ) : (
          entry.tags.map((tag) => (
            <span key={tag} className="badge tag">
              {tag}
            </span>
          ))
        )}
      </td>
      <td>
        <code title={entry.digest}>{shortDigest(entry.digest)}</code>
      </td>
      <td>
        <span className={`badge status-${entry.action === 'keep' ? 'succeeded' : 'failed'}`}>{action}</span>
      </td>
      <td>{reasonText(entry.reason, t)}</td>
    </tr>
  );
}

const fixedReasons: Record<string, MessageKey> = {
  'no rule keeps it': 'retention.reason.noKeep',
  'no rule applies to its repository': 'retention.reason.noRule',
  'its tags changed since it was decided on': 'retention.reason.changed',
};

/** The server's reason in the console's language (as it is, if it is one the console does not know). */
function reasonText(reason: string, t: I18n['t']): string {
  const rule = /^kept by rule ([\d, ]+)$/.exec(reason);
  if (rule) return t('retention.reason.rule', { rules: rule[1]! });
  const immutable = /^immutable \(immutability rule (\d+)\)$/.exec(reason);
  if (immutable) return t('retention.reason.immutable', { rule: immutable[1]! });
  const key = fixedReasons[reason];
  return key ? t(key) : reason;
}
