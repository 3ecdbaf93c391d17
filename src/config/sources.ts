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
 * Settings as given, before any validation: for each path, the command line's value, else the
 * environment's, else the YAML file's; undefined when none gives it, or when the file cannot be
 * read or parsed (loadConfig says why). The file is read and parsed at most once. The cluster
 * primary reads the few settings it needs this way, so it loads neither the schema nor its
 * validator (docs/performance.md, "Footprint"); the YAML parser only when a file is given.
 */
export async function peekSettings(sources: ConfigSources, paths: ReadonlyArray<readonly string[]>): Promise<unknown[]> {
  const env = sources.env ?? process.env;
  let document: Promise<unknown> | undefined;
  const fromFile = (): Promise<unknown> =>
    (document ??= (async () => {
      const file = sources.file ?? env.BERTH_CONFIG;
      if (!file) return undefined;
      try {
        const { parse } = await import('yaml');
        return parse(readFileSync(file, 'utf8')) as unknown;
      } catch {
        return undefined;
      }
    })());
  const values: unknown[] = [];
  for (const path of paths) {
    const flag = sources.flags?.[path.join('.')];
    const fromEnv = env[envNameOf(path)];
    if (flag !== undefined) values.push(flag);
    else if (fromEnv !== undefined && fromEnv !== '') values.push(fromEnv);
    else values.push(valueAt(await fromFile(), path));
  }
  return values;
}

/** The value at `path` in a parsed YAML document; undefined where the path runs through something that is not a mapping. */
function valueAt(document: unknown, path: readonly string[]): unknown {
  let node = document;
  for (const segment of path) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node ?? undefined;
}
