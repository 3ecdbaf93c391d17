/**
 * What a `berth` command's exit status means, the same for every command (docs/cli.md keeps
 * the table; a test checks it against this one).
 */
export const exitCodes = {
  /** Done. */
  ok: 0,
  /** The operation failed: an error, a run that did not finish, a database or storage that cannot be reached. */
  failed: 1,
  /** Usage: an unknown command or option, a bad option value, an invalid configuration, input the rules refuse. */
  usage: 2,
  /** Conflict: it exists already, another run is in progress, or it would remove the last administrator. */
  conflict: 3,
  /** Problems found: scrub found corrupt or missing objects, doctor found a failing check. */
  problems: 4,
  /** Not found: the named user, project or robot does not exist. */
  notFound: 5,
} as const;

/** The exit status for an error a command threw; `key` is a BerthError's key, `name` the error's class name. */
export function exitCodeFor(error: { name?: string; key?: string; exitCode?: number; code?: string }): number {
  // Commander's own errors: its help exits 0; a usage mistake it reports (exit 1) is ours to call 2.
  if (error.code?.startsWith('commander.')) return error.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
  if (error.name === 'ConfigError') return exitCodes.usage;
  if (error.name === 'BerthError') {
    if (error.key === 'BAD_REQUEST') return exitCodes.usage;
    if (error.key === 'CONFLICT') return exitCodes.conflict;
    if (error.key === 'NOT_FOUND') return exitCodes.notFound;
  }
  return exitCodes.failed;
}
