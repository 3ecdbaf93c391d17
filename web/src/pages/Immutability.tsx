import { useEffect, useState, type FormEvent } from 'react';
import { api, type ImmutabilityRule } from '../api';
import { Checkbox, RuleFieldset, SelectorFields, canonicalSelector, maxRules } from '../components/rules';
import { ErrorNote, Notice, useLoad } from '../components/ui';
import { useI18n } from '../i18n';

const newRule: ImmutabilityRule = { repositories: { pattern: '**' }, tags: { pattern: '' } };

function canonicalRule(rule: ImmutabilityRule): ImmutabilityRule {
  return { repositories: canonicalSelector(rule.repositories), tags: canonicalSelector(rule.tags), ...(rule.disabled ? { disabled: true } : {}) };
}

/** Tags that, once pushed, are never moved or deleted (docs/lifecycle.md, "Tag immutability"). */
export function Immutability({ project, canManage }: { project: string; canManage: boolean }) {
  const { t } = useI18n();
  const { data, error: loadError } = useLoad(() => api<{ rules: ImmutabilityRule[] }>('GET', `/projects/${project}/immutability`), [project]);
  const [rules, setRules] = useState<ImmutabilityRule[]>([]);
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  useEffect(() => {
    if (data) setRules(data.rules);
  }, [data]);
  const setRule = (index: number, rule: ImmutabilityRule) => setRules(rules.map((r, i) => (i === index ? rule : r)));
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setNotice(undefined);
    try {
      const stored = await api<{ rules: ImmutabilityRule[] }>('PUT', `/projects/${project}/immutability`, { rules: rules.map(canonicalRule) });
      setRules(stored.rules);
      setNotice(t('immutability.saved'));
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <section aria-labelledby="immutability-title">
      <h2 id="immutability-title">{t('immutability.title')}</h2>
      <p className="muted">{t('immutability.help')}</p>
      <ErrorNote message={loadError} />
      {data && (
        <form onSubmit={(e) => void save(e)} className="policy">
          <fieldset className="plain" disabled={!canManage}>
            {rules.length === 0 && <p className="muted">{t('immutability.empty')}</p>}
            {rules.map((rule, index) => (
              <RuleFieldset key={index} index={index} onRemove={canManage ? () => setRules(rules.filter((_, i) => i !== index)) : undefined}>
                <div className="rule-grid">
                  <SelectorFields kind="repositories" value={rule.repositories} onChange={(repositories) => setRule(index, { ...rule, repositories })} />
                  <SelectorFields kind="tags" value={rule.tags} onChange={(tags) => setRule(index, { ...rule, tags })} />
                </div>
                <Checkbox label={t('policies.ruleDisabled')} checked={rule.disabled === true} onChange={(disabled) => setRule(index, { ...rule, disabled })} />
              </RuleFieldset>
            ))}
          </fieldset>
          <ErrorNote message={error} />
          {notice && <Notice>{notice}</Notice>}
          {canManage ? (
            <div className="buttons left">
              <button type="button" onClick={() => setRules([...rules, newRule])} disabled={rules.length >= maxRules}>
                {t('policies.addRule')}
              </button>
              <button type="submit" className="primary">
                {t('common.save')}
              </button>
              {rules.length >= maxRules && <span className="muted small">{t('policies.maxRules', { max: maxRules })}</span>}
            </div>
          ) : (
            <p className="muted small">{t('policies.readOnly')}</p>
          )}
        </form>
      )}
    </section>
  );
}
