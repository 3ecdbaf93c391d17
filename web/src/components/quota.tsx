import type { QuotaLimits } from '../api';
import { useI18n } from '../i18n';
import { Field } from './ui';

const units = { MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40 } as const;
type SizeUnit = keyof typeof units;
const largestFirst: SizeUnit[] = ['TiB', 'GiB', 'MiB'];

/** Limits as typed into a form: numbers as text (empty: unlimited), the storage limit with its unit. */
export interface LimitsDraft {
  storage: string;
  unit: SizeUnit;
  artifacts: string;
}

/** Shows a byte limit in the largest unit it is a whole multiple of (MiB, with decimals, if none). */
export function limitsDraft(limits: QuotaLimits): LimitsDraft {
  const bytes = limits.storageBytes;
  const unit = bytes === null || bytes === 0 ? 'GiB' : (largestFirst.find((u) => bytes % units[u] === 0) ?? 'MiB');
  // Dividing by a power of two is exact, and String() round-trips, so saving unchanged keeps every byte.
  return { storage: bytes === null ? '' : String(bytes / units[unit]), unit, artifacts: limits.artifacts === null ? '' : String(limits.artifacts) };
}

export function draftLimits(draft: LimitsDraft): QuotaLimits {
  const storage = draft.storage.trim();
  const artifacts = draft.artifacts.trim();
  return {
    storageBytes: storage === '' ? null : Math.round(Number(storage) * units[draft.unit]),
    artifacts: artifacts === '' ? null : Number(artifacts),
  };
}

/** The storage limit (a number and a binary unit) and the artifact limit; empty is unlimited. */
export function LimitFields({ draft, onChange }: { draft: LimitsDraft; onChange: (draft: LimitsDraft) => void }) {
  const { t } = useI18n();
  return (
    <div className="limit-fields">
      <Field label={t('quota.storageLimit')} help={t('quota.emptyUnlimited')}>
        {(id) => (
          <div className="size-input">
            <input id={id} type="number" min={0} step="any" placeholder={t('quota.unlimited')} value={draft.storage} onChange={(e) => onChange({ ...draft, storage: e.target.value })} />
            <select aria-label={t('quota.unit')} value={draft.unit} onChange={(e) => onChange({ ...draft, unit: e.target.value as SizeUnit })}>
              {Object.keys(units).map((unit) => (
                <option key={unit} value={unit}>
                  {unit}
                </option>
              ))}
            </select>
          </div>
        )}
      </Field>
      <Field label={t('quota.artifactLimit')} help={t('quota.emptyUnlimited')}>
        {(id) => <input id={id} type="number" min={0} step={1} placeholder={t('quota.unlimited')} value={draft.artifacts} onChange={(e) => onChange({ ...draft, artifacts: e.target.value })} />}
      </Field>
    </div>
  );
}
