import { ConfigError } from '../config/config-error.js';

/** `--set key=value` pairs as the dotted-key flags loadConfig takes. */
export function settingFlags(pairs: string[] | undefined): Record<string, string> {
  const flags: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--set expects key=value, got "${pair}"`);
    flags[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return flags;
}
