import { Cron } from 'croner';
import type { JobStore } from '../../ports/job-store.js';

export interface ScheduleDefinition {
  name: string;
  /** Cron expression (5 or 6 fields), evaluated in UTC. */
  cron: string;
  jobType: string;
  payload?: Record<string, unknown>;
  maxAttempts?: number;
}

/** The next time a cron expression fires after `from`. */
export function nextRun(cron: string, from: number): number {
  // A fixed offset of 0 is UTC without croner's Intl time-zone path (about 20 ms at first use, in every process).
  const next = new Cron(cron, { utcOffset: 0, paused: true }).nextRun(new Date(from));
  if (!next) throw new Error(`cron expression ${cron} never fires`);
  return next.getTime();
}

/**
 * Cron schedules stored in the database: each due run becomes one job, exactly once across
 * all instances (the schedule row moves to its next run in the same transaction).
 */
export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private readonly definitions = new Map<string, ScheduleDefinition>();

  constructor(
    private readonly store: JobStore,
    private readonly options: { intervalMs: number; onJob?: () => void; onError?: (err: unknown) => void; now?: () => number },
  ) {}

  async define(schedule: ScheduleDefinition): Promise<void> {
    const now = (this.options.now ?? Date.now)();
    nextRun(schedule.cron, now);
    this.definitions.set(schedule.name, schedule);
    await this.store.upsertSchedule({ name: schedule.name, cron: schedule.cron, jobType: schedule.jobType, payload: schedule.payload ?? {}, nextRunAt: nextRun(schedule.cron, now) });
  }

  /** Stops a schedule (a project's retention schedule turned off). */
  async remove(name: string): Promise<void> {
    this.definitions.delete(name);
    await this.store.deleteSchedule(name);
  }

  start(): void {
    this.timer ??= setInterval(() => void this.tick().catch((err: unknown) => this.options.onError?.(err)), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async tick(): Promise<number> {
    const now = (this.options.now ?? Date.now)();
    let fired = 0;
    for (const schedule of await this.store.dueSchedules(now)) {
      const job = {
        type: schedule.jobType,
        payload: { ...schedule.payload, schedule: schedule.name, scheduledFor: schedule.nextRunAt },
        maxAttempts: this.definitions.get(schedule.name)?.maxAttempts ?? 3,
        runAt: now,
      };
      if (await this.store.fireSchedule(schedule, nextRun(schedule.cron, now), job, now)) fired++;
    }
    if (fired > 0) this.options.onJob?.();
    return fired;
  }
}
