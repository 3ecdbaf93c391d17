import { severities, type Severity } from '../api';
import { useI18n } from '../i18n';

/** Higher is worse: CRITICAL 5 … UNKNOWN 0. */
export function severityRank(severity: Severity): number {
  return severities.indexOf(severity);
}

/** A severity, coloured by how bad it is; with `count`, how many findings have it (a zero is not coloured). */
export function SeverityBadge({ severity, count }: { severity: Severity; count?: number }) {
  const { t } = useI18n();
  const tone = count === 0 ? '' : ` severity-${severity.toLowerCase()}`;
  return (
    <span className={`badge severity${tone}`}>
      {t(`severity.${severity}`)}
      {count !== undefined && <strong> {count}</strong>}
    </span>
  );
}
