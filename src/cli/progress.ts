import type { MigrationProgress } from '../services/storage-migration/storage-migration.js';

/** 1536 → "1.5 KiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2)} ${units[unit]}`;
}

/** 83 → "1:23", 3723 → "1:02:03". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

/** Bytes per second over the run so far. */
export function rateOf(bytes: number, elapsedMs: number): number {
  return elapsedMs > 0 ? (bytes * 1000) / elapsedMs : 0;
}

/** Bytes that count as done: copied (streamed) and skipped. */
function doneBytes(p: MigrationProgress): number {
  return p.transferredBytes + p.skippedBytes;
}

/** One redrawn terminal line: bar, percentage, bytes, blobs, rate, time left. */
export function progressBar(p: MigrationProgress, elapsedMs: number, columns = 100): string {
  if (p.phase === 'scanning') return `scanning… ${p.totalBlobs} blobs, ${formatBytes(p.totalBytes)}`;
  const done = Math.min(doneBytes(p), p.totalBytes);
  const fraction = p.totalBytes > 0 ? done / p.totalBytes : p.totalBlobs > 0 ? p.doneBlobs / p.totalBlobs : 1;
  const rate = rateOf(p.transferredBytes, elapsedMs);
  const left = rate > 0 ? formatDuration((p.totalBytes - done) / rate) : '–';
  const failed = p.failedBlobs > 0 ? `  ${p.failedBlobs} failed` : '';
  const text = ` ${String(Math.floor(fraction * 100)).padStart(3)}%  ${formatBytes(done)} / ${formatBytes(p.totalBytes)}  ${p.doneBlobs}/${p.totalBlobs} blobs  ${formatBytes(rate)}/s  ETA ${left}${failed}`;
  const width = Math.max(10, Math.min(40, columns - text.length - 3));
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]${text}`;
}

/** A line for logs and pipes. */
export function progressLine(p: MigrationProgress, elapsedMs: number): string {
  const percent = p.totalBytes > 0 ? Math.floor((Math.min(doneBytes(p), p.totalBytes) / p.totalBytes) * 100) : 100;
  return `migrate-storage: ${p.doneBlobs}/${p.totalBlobs} blobs, ${formatBytes(doneBytes(p))} of ${formatBytes(p.totalBytes)} (${percent}%), ${formatBytes(rateOf(p.transferredBytes, elapsedMs))}/s, ${p.copiedBlobs} copied, ${p.skippedBlobs} skipped, ${p.failedBlobs} failed`;
}

export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * Shows a migration's progress: on a terminal a bar redrawn at most 10 times a second; elsewhere
 * one line every `every` blobs (and when scanning ends), so logs stay readable.
 */
export class ProgressReporter {
  private readonly started = performance.now();
  private lastDraw = 0;
  private lastLineAt = 0;
  private announcedTotals = false;
  private drawn = false;

  constructor(
    private readonly out: ProgressOutput,
    private readonly every: number,
  ) {}

  update(p: MigrationProgress): void {
    const elapsed = performance.now() - this.started;
    if (this.out.isTTY) {
      if (p.phase !== 'done' && elapsed - this.lastDraw < 100) return;
      this.lastDraw = elapsed;
      this.out.write(`\r\x1b[2K${progressBar(p, elapsed, this.out.columns)}`);
      this.drawn = true;
      return;
    }
    if (p.phase !== 'scanning' && !this.announcedTotals) {
      this.announcedTotals = true;
      this.out.write(`migrate-storage: ${p.totalBlobs} blobs, ${formatBytes(p.totalBytes)} in the source\n`);
    }
    if (p.phase === 'copying' && p.doneBlobs > 0 && p.doneBlobs % this.every === 0 && p.doneBlobs !== this.lastLineAt) {
      this.lastLineAt = p.doneBlobs;
      this.out.write(`${progressLine(p, elapsed)}\n`);
    }
  }

  /** Ends the bar's line, so what follows starts on a fresh one. */
  finish(): void {
    if (this.drawn) this.out.write('\n');
  }
}

/**
 * Progress of a copy measured in bytes (`berth copy`, `export`, `import`): on a terminal a bar
 * with bytes, rate and time left, redrawn at most 10 times a second; elsewhere a plain line at
 * every tenth of the total (or every 10 s when the total is unknown).
 */
export class ByteProgress {
  private readonly started = performance.now();
  private done = 0;
  private lastDraw = 0;
  private lastLine = 0;
  private lastTenth = 0;
  private drawn = false;

  constructor(
    private readonly out: ProgressOutput,
    private readonly label: string,
    private total: number,
  ) {}

  /** The total grew (a plan made while copying). */
  expect(total: number): void {
    this.total = total;
  }

  add(bytes: number): void {
    this.done += bytes;
    const elapsed = performance.now() - this.started;
    if (this.out.isTTY) {
      if (elapsed - this.lastDraw < 100) return;
      this.lastDraw = elapsed;
      this.draw(elapsed);
      return;
    }
    const tenth = this.total > 0 ? Math.floor((Math.min(this.done, this.total) / this.total) * 10) : 0;
    if (this.total > 0 ? tenth > this.lastTenth : elapsed - this.lastLine >= 10_000) {
      this.lastTenth = tenth;
      this.lastLine = elapsed;
      this.out.write(`${this.line(elapsed)}\n`);
    }
  }

  private draw(elapsed: number): void {
    const fraction = this.total > 0 ? Math.min(1, this.done / this.total) : 0;
    const rate = rateOf(this.done, elapsed);
    const left = rate > 0 && this.total > 0 ? formatDuration((this.total - Math.min(this.done, this.total)) / rate) : '–';
    const text = ` ${String(Math.floor(fraction * 100)).padStart(3)}%  ${formatBytes(this.done)} / ${formatBytes(this.total)}  ${formatBytes(rate)}/s  ETA ${left}`;
    const width = Math.max(10, Math.min(40, (this.out.columns ?? 100) - text.length - this.label.length - 4));
    const filled = Math.round(fraction * width);
    this.out.write(`\r\x1b[2K${this.label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}]${text}`);
    this.drawn = true;
  }

  private line(elapsed: number): string {
    const percent = this.total > 0 ? ` (${Math.floor((Math.min(this.done, this.total) / this.total) * 100)}%)` : '';
    return `${this.label}: ${formatBytes(this.done)} of ${formatBytes(this.total)}${percent}, ${formatBytes(rateOf(this.done, elapsed))}/s`;
  }

  /** Draws the final state and ends the bar's line. */
  finish(): void {
    if (this.out.isTTY) {
      this.draw(performance.now() - this.started);
      if (this.drawn) this.out.write('\n');
    }
  }
}
