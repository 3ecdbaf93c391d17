import { readFileSync } from 'node:fs';

/** Where settings come from, besides the schema's defaults. */
export interface ConfigSources {
  /** Path of a YAML file (from --config or BERTH_CONFIG). */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, as dotted paths (`server.port`) to strings or typed values. */
  flags?: Record<string, unknown>;
}

/** A setting's environment variable: `server.publicUrl` is BERTH_SERVER_PUBLIC_URL. */
export function envNameOf(path: readonly string[]): string {
  return `BERTH_${path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')}`;
}

/**
 * One setting as given, before any validation: the command line's value, else the environment's,
 * else the YAML file's; undefined when none gives it, or when the file cannot be read or parsed
 * (loadConfig says why). The cluster primary reads the few settings it needs this way, so it
 * loads neither the schema nor its validator (docs/performance.md, "Footprint"); the YAML parser
 * only when a file is given.
 */
export async function peekSetting(sources: ConfigSources, path: readonly string[]): Promise<unknown> {
  const flag = sources.flags?.[path.join('.')];
  if (flag !== undefined) return flag;
  const env = sources.env ?? process.env;
  const fromEnv = env[envNameOf(path)];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const file = sources.file ?? env.BERTH_CONFIG;
  if (!file) return undefined;
  let node: unknown;
  try {
    const { parse } = await import('yaml');
    node = parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  for (const segment of path) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node ?? undefined;
}
