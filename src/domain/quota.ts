import { BerthError } from './errors.js';

/** The error a push over quota gets: the distribution spec's DENIED, saying which quota, its usage and its limit (docs/lifecycle.md). */
export function quotaExceeded(project: string, kind: 'storage' | 'artifacts', used: number, adding: number, limit: number): BerthError {
  const amount = kind === 'storage' ? formatBytes : (n: number) => `${n} artifact${n === 1 ? '' : 's'}`;
  return new BerthError('DENIED', {
    message: `quota exceeded: project ${project} may store ${amount(limit)} (${kind} quota); ${amount(used)} used, this push adds ${amount(adding)}`,
    detail: { project, quota: kind, used, adding, limit },
  });
}

/** Bytes as people read them: binary units, three significant digits. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toPrecision(3)} ${units[unit]}`;
}
