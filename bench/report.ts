export interface SystemFigures {
  ops: number;
  seconds: number;
  reqPerSec: number;
  mbPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /**
   * CPU time (user + system) of every process of the system, per operation, up to the moment its
   * processes went quiet after the last response (`settleSeconds`): background work the workload
   * caused counts.
   */
  cpuMsPerOp: number;
  /** Seconds from the last response until the system's processes went quiet (its background work done). */
  settleSeconds?: number;
  /** The largest single process's RSS. */
  peakRssBytes: number;
  /** PSS summed over every process of the system (shared pages once): its memory cost. */
  peakPssBytes: number;
  /** PostgreSQL only (Berth): transactions per operation, from pg_stat_database. */
  dbTransactionsPerOp?: number;
  /**
   * PostgreSQL only (Berth): CPU time of the PostgreSQL server's processes per operation
   * (backends the pool opened during the workload count whole).
   */
  dbCpuMsPerOp?: number;
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
    `${num(d.cpuMsPerOp)} / ${num(b.cpuMsPerOp)}`,
    `${num(d.settleSeconds ?? 0)} / ${num(b.settleSeconds ?? 0)}`,
    `${mib(d.peakPssBytes)} / ${mib(b.peakPssBytes)}`,
    ...(withTransactions(row) ? [b.dbTransactionsPerOp === undefined ? '' : num(b.dbTransactionsPerOp), b.dbCpuMsPerOp === undefined ? '' : num(b.dbCpuMsPerOp)] : []),
    `${ratio(row).toFixed(2)}× ${row.unit}`,
  ];
}

const withTransactions = (row: Row) => row.berth.dbTransactionsPerOp !== undefined;

function headersFor(rows: Row[]): string[] {
  return [
    'workload',
    'req/s (dist / berth)',
    'MB/s',
    'p50 ms',
    'p99 ms',
    'CPU ms/op',
    'quiet after s',
    'summed PSS MiB',
    ...(rows.some(withTransactions) ? ['db tx/op (berth)', 'db CPU ms/op'] : []),
    'berth ÷ dist',
  ];
}

export function textTable(rows: Row[], withHeader: boolean): string {
  const headers = headersFor(rows);
  const all = withHeader ? [headers, ...rows.map(cells)] : rows.map(cells);
  const widths = headers.map((_, i) => Math.max(...(withHeader ? all : [headers, ...all]).map((r) => r[i]!.length)));
  return all.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

export function markdownTable(rows: Row[]): string {
  const headers = headersFor(rows);
  return [`| ${headers.join(' | ')} |`, `| ${headers.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`, ...rows.map((r) => `| ${cells(r).join(' | ')} |`)].join('\n');
}
