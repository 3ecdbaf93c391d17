import { idleBackoff } from './job-runner.js';

/**
 * A consumer of the event outbox that drains in a loop: woken by `notify` (changes in this
 * process), and on a timer for events other instances wrote: every `intervalMs` while there are
 * some, backing off to `idleBackoff` intervals while there are none. A notice after a quiet spell
 * wakes it at once; notices that keep coming are taken together, one drain per `coalesceMs` at
 * most, so a burst of pushes costs the database a few reads of the outbox, not one per push.
 */
export abstract class OutboxLoop {
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private pending = false;

  private readonly coalesceMs: number;

  constructor(private readonly loopOptions: { intervalMs: number; coalesceMs?: number; onError?: (err: unknown) => void }) {
    // 250 ms: a burst of pushes (each process runs five consumers) costs each consumer four
    // drains a second per process, not twenty; a webhook or a scan waits that much longer.
    this.coalesceMs = loopOptions.coalesceMs ?? 250;
  }

  /** Consumes everything pending now; resolves how many events it read. */
  abstract drain(): Promise<number>;

  notify(): void {
    this.pending = true;
    this.wakeUp?.();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wakeUp?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    // Backs off while the outbox stays empty, to `idleBackoff` intervals: events written in
    // this process wake it at once; the timer is for events other processes wrote.
    let waitMs = this.loopOptions.intervalMs;
    while (this.running) {
      this.pending = false;
      const startedAt = performance.now();
      let read = 0;
      try {
        read = await this.drain();
      } catch (err) {
        this.loopOptions.onError?.(err);
      }
      const timeoutMs = read > 0 ? this.loopOptions.intervalMs : waitMs;
      waitMs = read > 0 ? this.loopOptions.intervalMs : Math.min(waitMs * 2, this.loopOptions.intervalMs * idleBackoff);
      if (!this.running) continue;
      if (!this.pending) await this.sleep(timeoutMs, true);
      // Notified: the next drain starts no sooner than `coalesceMs` after this one did.
      if (this.pending) await this.sleep(this.coalesceMs - (performance.now() - startedAt), false);
    }
  }

  /** Waits `ms`, or less when stopped (or, when `wakeable`, notified). */
  private sleep(ms: number, wakeable: boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      if (!this.running || ms <= 0) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = wakeable ? done : () => (this.running ? undefined : done());
    });
  }
}
