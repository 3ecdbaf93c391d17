import { performance, type EventLoopUtilization } from 'node:perf_hooks';

export interface RequestLoadOptions {
  /** Share of the last window the event loop must have been busy (0–1). */
  threshold: number;
  /** The shortest window the share is taken over, in ms. */
  windowMs: number;
  /** The event loop's counters (performance.eventLoopUtilization); tests give their own. */
  utilization?: (from?: EventLoopUtilization) => EventLoopUtilization;
}

/**
 * Whether this process is saturated with requests: one is being served now, and the event loop
 * was busy for at least `threshold` of the last window. The job runner holds background jobs
 * back while it is (JobRunner, `background` handlers), so a burst of pushes is not slowed by
 * indexing and scanning what it pushes; those run when the burst passes, or once they have
 * waited their longest. A client polling for a scan's result does not count: its requests are
 * short and far apart, and the event loop idles between them.
 */
export class RequestLoad {
  private inFlight = 0;
  private readonly elu: (from?: EventLoopUtilization) => EventLoopUtilization;
  private sample: EventLoopUtilization;
  private busyShare = 0;

  constructor(private readonly options: RequestLoadOptions = { threshold: 0.75, windowMs: 100 }) {
    this.elu = options.utilization ?? ((from) => (from ? performance.eventLoopUtilization(from) : performance.eventLoopUtilization()));
    this.sample = this.elu();
  }

  /** A request began; the function returned ends it (calls after the first do nothing). */
  begin(): () => void {
    this.inFlight++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.inFlight--;
    };
  }

  get requests(): number {
    return this.inFlight;
  }

  saturated(): boolean {
    if (this.inFlight === 0) return false;
    const window = this.elu(this.sample);
    if (window.idle + window.active >= this.options.windowMs) {
      this.busyShare = window.utilization;
      this.sample = this.elu();
    }
    return this.busyShare >= this.options.threshold;
  }
}
