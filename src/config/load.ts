import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { configSchema, type Config } from './schema.js';
import { ConfigError } from './config-error.js';
import { envNameOf, type ConfigSources } from './sources.js';

export { ConfigError } from './config-error.js';
export type { ConfigSources } from './sources.js';

/** One setting of the schema: its dotted path, environment variable and kind. */
export interface ConfigKey {
  path: string[];
  env: string;
  kind: 'string' | 'number' | 'boolean' | 'enum' | 'list';
  values?: string[];
  defaultValue?: unknown;
  description: string;
  optional: boolean;
}

/** Resolved paths and defaults that depend on other settings. */
export interface ResolvedConfig extends Config {
  dataDir: string;
  database: Config['database'] & { url: string };
  storage: Config['storage'] & { filesystem: { root: string } };
}

/** Loads config: schema defaults < YAML file < BERTH_* environment < flags. Throws ConfigError naming the key. */
export function loadConfig(sources: ConfigSources = {}): ResolvedConfig {
  let env = sources.env ?? process.env;
  const schema = configSchema();
  const origin = new Map<string, string>();
  const raw: Record<string, unknown> = {};

  const file = sources.file ?? env.BERTH_CONFIG;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (err) {
      throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
    }
    if (doc !== null && doc !== undefined) {
      if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`config file ${file} must hold a mapping of settings`);
      mergeInto(raw, doc as Record<string, unknown>, [], origin, `file ${file}`);
    }
  }

  // Names the issues and Harbor users know, kept as aliases of the schema's own names.
  const aliases: Record<string, string> = { BERTH_ADMIN_PASSWORD: 'BERTH_AUTH_INITIAL_ADMIN_PASSWORD' };
  for (const [alias, canonical] of Object.entries(aliases)) {
    if (env[alias] !== undefined && env[canonical] === undefined) env = { ...env, [canonical]: env[alias] };
  }

  for (const key of configKeys(schema)) {
    const value = env[key.env];
    if (value === undefined || value === '') continue;
    setPath(raw, key.path, coerce(value, key));
    origin.set(key.path.join('.'), `environment variable ${key.env}`);
  }

  const keysByPath = new Map(configKeys().map((k) => [k.path.join('.'), k]));
  for (const [path, value] of Object.entries(sources.flags ?? {})) {
    if (value === undefined) continue;
    const key = keysByPath.get(path);
    if (!key) throw new ConfigError(`unknown setting "${path}"; known settings: ${[...keysByPath.keys()].join(', ')}`);
    setPath(raw, key.path, typeof value === 'string' ? coerce(value, key) : value);
    origin.set(path, 'command line');
  }

  const result = schema.safeParse(raw);
  if (!result.success) throw new ConfigError(formatIssues(result.error, origin));
  return resolveDerived(result.data);
}

function resolveDerived(config: Config): ResolvedConfig {
  const dataDir = resolve(config.dataDir);
  return {
    ...config,
    dataDir,
    database: { ...config.database, url: config.database.url ?? `sqlite:${join(dataDir, 'berth.db')}` },
    storage: { ...config.storage, filesystem: { root: resolve(config.storage.filesystem.root ?? join(dataDir, 'storage')) } },
  };
}

function formatIssues(error: z.ZodError, origin: Map<string, string>): string {
  const lines = error.issues.map((issue) => {
    const path = issue.path.join('.');
    // The key itself, a key under it, or (for an item of a list) the key holding it.
    const from =
      origin.get(path) ??
      [...origin.entries()].find(([p]) => p.startsWith(`${path}.`))?.[1] ??
      issue.path.map((_s, i) => origin.get(issue.path.slice(0, issue.path.length - 1 - i).join('.'))).find((o) => o !== undefined);
    const key = configKeys().find((k) => k.path.join('.') === path);
    const allowed = key ? ` (allowed: ${describeAllowed(key)})` : '';
    const label = path === '' ? 'config' : path;
    const message = issue.code === 'unrecognized_keys' ? `unknown setting(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message;
    return `  ${label}${from ? ` [from ${from}]` : ''}: ${message}${allowed}`;
  });
  return `invalid configuration:\n${lines.join('\n')}\nSee docs/config.md for every setting.`;
}

function describeAllowed(key: ConfigKey): string {
  if (key.kind === 'enum') return key.values!.join(' | ');
  if (key.kind === 'list') return 'comma-separated list';
  return key.kind;
}

function coerce(value: string, key: ConfigKey): unknown {
  if (key.kind === 'list') return value.split(',').map((v) => v.trim()).filter((v) => v !== '');
  if (key.kind === 'number' && /^-?\d+(\.\d+)?$/.test(value.trim())) return Number(value);
  // A limit that may be unset (null) is unset from the environment with "none".
  if (key.kind === 'number' && key.optional && value.trim().toLowerCase() === 'none') return null;
  if (key.kind === 'boolean') {
    const lower = value.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(lower)) return true;
    if (['false', '0', 'no', 'off'].includes(lower)) return false;
  }
  return value;
}

function mergeInto(target: Record<string, unknown>, source: Record<string, unknown>, path: string[], origin: Map<string, string>, from: string) {
  for (const [k, v] of Object.entries(source)) {
    const here = [...path, k];
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const child = (target[k] ??= {}) as Record<string, unknown>;
      mergeInto(child, v as Record<string, unknown>, here, origin, from);
    } else {
      target[k] = v;
      origin.set(here.join('.'), from);
    }
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown) {
  let node = target;
  for (const segment of path.slice(0, -1)) {
    const next = node[segment];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[segment] = {};
    node = node[segment] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

let keysCache: ConfigKey[] | undefined;

/** Every leaf setting of the schema, in declaration order (walked in `schema`, when the caller has built one). */
export function configKeys(schema?: z.ZodType): ConfigKey[] {
  keysCache ??= walk(schema ?? configSchema(), []);
  return keysCache;
}

function walk(schema: z.ZodType, path: string[]): ConfigKey[] {
  const { inner, optional, defaultValue, description } = unwrap(schema);
  if (inner instanceof z.ZodObject) {
    return Object.entries(inner.shape as Record<string, z.ZodType>).flatMap(([k, child]) => walk(child, [...path, k]));
  }
  const key: ConfigKey = {
    path,
    env: envNameOf(path),
    kind: 'string',
    description: description ?? '',
    optional,
    defaultValue,
  };
  if (inner instanceof z.ZodNumber) key.kind = 'number';
  else if (inner instanceof z.ZodBoolean) key.kind = 'boolean';
  else if (inner instanceof z.ZodArray) key.kind = 'list';
  else if (inner instanceof z.ZodEnum) {
    key.kind = 'enum';
    key.values = inner.options.map(String);
  }
  return [key];
}

function unwrap(schema: z.ZodType): { inner: z.ZodType; optional: boolean; defaultValue?: unknown; description?: string } {
  let inner = schema;
  let optional = false;
  let defaultValue: unknown;
  const description = schema.description;
  for (;;) {
    if (inner instanceof z.ZodDefault) {
      defaultValue = inner.def.defaultValue;
      inner = inner.def.innerType as z.ZodType;
    } else if (inner instanceof z.ZodPrefault) {
      inner = inner.def.innerType as z.ZodType;
    } else if (inner instanceof z.ZodOptional || inner instanceof z.ZodNullable) {
      optional = true;
      inner = inner.def.innerType as z.ZodType;
    } else break;
  }
  return { inner, optional, defaultValue, description: description ?? inner.description };
}

/** docs/config.md, generated from the schema so it can never drift from it. */
export function configReference(): string {
  const lines = [
    '# Configuration reference',
    '',
    'Berth reads settings from, in increasing precedence: built-in defaults, a YAML file',
    '(`berth serve --config berth.yaml` or `BERTH_CONFIG=berth.yaml`), `BERTH_*` environment',
    'variables, and command-line flags (`--port`, `--host`, `--data-dir`, `--database-url`,',
    '`--log-level`, or `--set key=value` for any key). A value that is not allowed stops start-up',
    'with a message naming the key, where the value came from and what is allowed.',
    '',
    'This file is generated by `berth config docs` from the schema in `src/config/schema.ts`.',
    '',
    '| Key | Environment variable | Type | Default | Description |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const key of configKeys()) {
    const type = key.kind === 'enum' ? key.values!.map((v) => `\`${v}\``).join(' \\| ') : key.kind === 'list' ? 'list' : key.kind;
    const def = key.defaultValue === undefined ? '—' : `\`${JSON.stringify(key.defaultValue)}\``;
    lines.push(`| \`${key.path.join('.')}\` | \`${key.env}\` | ${type} | ${def} | ${key.description.replace(/\|/g, '\\|')} |`);
  }
  lines.push(
    '',
    'Example `berth.yaml`:',
    '',
    '```yaml',
    'dataDir: /var/lib/berth',
    'server:',
    '  port: 5000',
    'database:',
    '  url: postgres://berth@127.0.0.1:5432/berth',
    'log:',
    '  level: info',
    '```',
    '',
  );
  return lines.join('\n');
}
