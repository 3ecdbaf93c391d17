import { Cron } from 'croner';

/** Whether `expression` is a cron expression (5 or 6 fields) croner can schedule, in UTC. */
export function validCron(expression: string): boolean {
  try {
    new Cron(expression, { paused: true, utcOffset: 0 });
    return true;
  } catch {
    return false;
  }
}
