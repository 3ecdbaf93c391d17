export interface SystemFigures {
  ops: number;
  seconds: number;
  reqPerSec: number;
  mbPerSec: number;
  p50Ms: number;
  p99Ms: number;
  peakRssBytes: number;
}

export interface Row {
  workload: string;
  unit: 'MB/s' | 'req/s';
  distribution: SystemFigures;
  berth: SystemFigures;
}

/** Berth ÷ distribution on the workload's unit (higher is better for Berth). */
export function ratio(row: Row): number {
  const pick = (f: SystemFigures) => (row.unit === 'MB/s' ? f.mbPerSec : f.reqPerSec);
  return pick(row.berth) / pick(row.distribution);
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)}`;
const num = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

function cells(row: Row): string[] {
  const { distribution: d, berth: b } = row;
  return [
    row.workload,
    `${num(d.reqPerSec)} / ${num(b.reqPerSec)}`,
    `${num(d.mbPerSec)} / ${num(b.mbPerSec)}`,
    `${num(d.p50Ms)} / ${num(b.p50Ms)}`,
    `${num(d.p99Ms)} / ${num(b.p99Ms)}`,
    `${mib(d.peakRssBytes)} / ${mib(b.peakRssBytes)}`,
    `${ratio(row).toFixed(2)}× ${row.unit}`,
  ];
}

const headers = ['workload', 'req/s (dist / berth)', 'MB/s', 'p50 ms', 'p99 ms', 'peak RSS MiB', 'berth ÷ dist'];

export function textTable(rows: Row[], withHeader: boolean): string {
  const all = withHeader ? [headers, ...rows.map(cells)] : rows.map(cells);
  const widths = headers.map((_, i) => Math.max(...(withHeader ? all : [headers, ...all]).map((r) => r[i]!.length)));
  return all.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

export function markdownTable(rows: Row[]): string {
  return [`| ${headers.join(' | ')} |`, `| ${headers.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`, ...rows.map((r) => `| ${cells(r).join(' | ')} |`)].join('\n');
}
