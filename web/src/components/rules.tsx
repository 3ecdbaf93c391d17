import type { ReactNode } from 'react';
import type { Selector } from '../api';
import { useI18n } from '../i18n';
import { Field } from './ui';

/** Rules per retention policy and per immutability list, as the server allows. */
export const maxRules = 15;

/** A checkbox with its label beside it. */
export function Checkbox({ label, checked, onChange }: { label: string; checked: boolean; onChange: (checked: boolean) => void }) {
  return (
    <div className="field checkbox">
      <label>
        <input type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} /> {label}
      </label>
    </div>
  );
}

/** A rule's repository or tag selector: a glob, and whether it means every name but those it matches. */
export function SelectorFields({ kind, value, onChange }: { kind: 'repositories' | 'tags'; value: Selector; onChange: (selector: Selector) => void }) {
  const { t } = useI18n();
  return (
    <div className="selector">
      <Field label={t(`policies.${kind}`)} help={t(`policies.${kind}Help`)}>
        {(id) => <input id={id} required maxLength={500} value={value.pattern} onChange={(e) => onChange({ ...value, pattern: e.target.value })} />}
      </Field>
      <Checkbox label={t(`policies.${kind}Exclude`)} checked={value.exclude === true} onChange={(exclude) => onChange({ ...value, exclude })} />
    </div>
  );
}

/** A selector as the API stores it when written by hand: `exclude` only when set. */
export function canonicalSelector(selector: Selector): Selector {
  return selector.exclude ? { pattern: selector.pattern, exclude: true } : { pattern: selector.pattern };
}

/** One rule of a list: numbered, with the button that removes it (for those who may edit). */
export function RuleFieldset({ index, onRemove, children }: { index: number; onRemove?: () => void; children: ReactNode }) {
  const { t } = useI18n();
  return (
    <fieldset className="rule">
      <legend>{t('policies.rule', { n: index + 1 })}</legend>
      {children}
      {onRemove && (
        <div className="buttons left">
          <button type="button" className="danger" onClick={onRemove}>
            {t('policies.removeRule', { n: index + 1 })}
          </button>
        </div>
      )}
    </fieldset>
  );
}
