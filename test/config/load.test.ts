import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, configKeys, configReference, loadConfig } from '../../src/config/load.js';

describe('configuration', () => {
  it('defaults to SQLite and filesystem storage under ./data on port 5000', () => {
    const config = loadConfig({ env: {} });
    expect(config.server.port).toBe(5000);
    expect(config.dataDir).toBe(resolve('data'));
    expect(config.database.url).toBe(`sqlite:${resolve('data', 'berth.db')}`);
    expect(config.storage.filesystem.root).toBe(resolve('data', 'storage'));
    expect(config.registry.maxManifestBytes).toBe(4 * 1024 * 1024);
  });

  it('loads docs/examples/hardening.yaml, and refuses an allowlist entry that is not a CIDR, naming the key', async () => {
    const config = loadConfig({ file: new URL('../../docs/examples/hardening.yaml', import.meta.url).pathname, env: {} });
    expect(config.outbound.webhook.allowCidrs).toEqual(['10.20.0.0/16']);
    expect(config.outbound.replication.allowCidrs).toEqual([]);
    expect(config.rateLimits).toEqual({ enabled: true, windowSeconds: 21600, pull: { anonymous: 100, user: 200, robot: null, project: null }, api: { anonymous: 600, user: null, robot: null, project: null } });
    expect(config.auth.lockout).toEqual({ attempts: 5, delaySeconds: 30, maxDelaySeconds: 3600, sourceAttempts: 50, forgetHours: 24 });
    expect(() => loadConfig({ env: { BERTH_OUTBOUND_ALLOW_CIDRS: '10.0.0.0/8,intranet' } })).toThrow(
      'outbound.allowCidrs.1 [from environment variable BERTH_OUTBOUND_ALLOW_CIDRS]: must be a CIDR such as 10.0.0.0/8 or fd00::/8, or one address',
    );
    expect(loadConfig({ env: { BERTH_RATE_LIMITS_PULL_ANONYMOUS: 'none' } }).rateLimits.pull.anonymous).toBeNull();
  });

  it('layers file < environment < flags', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-cfg-'));
    const file = join(dir, 'berth.yaml');
    await writeFile(file, 'server:\n  port: 6000\n  host: 127.0.0.1\nlog:\n  level: debug\nregistry:\n  automaticMount: true\n');
    const fromFile = loadConfig({ file, env: {} });
    expect(fromFile.server).toMatchObject({ port: 6000, host: '127.0.0.1' });
    expect(fromFile.registry.automaticMount).toBe(true);
    const fromEnv = loadConfig({ file, env: { BERTH_SERVER_PORT: '7000', BERTH_REGISTRY_AUTOMATIC_MOUNT: 'false' } });
    expect(fromEnv.server.port).toBe(7000);
    expect(fromEnv.registry.automaticMount).toBe(false);
    expect(fromEnv.log.level).toBe('debug');
    const fromFlags = loadConfig({ file, env: { BERTH_SERVER_PORT: '7000' }, flags: { 'server.port': '8000' } });
    expect(fromFlags.server.port).toBe(8000);
  });

  it('reads BERTH_CONFIG and a PostgreSQL URL from the environment', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-cfg-'));
    const file = join(dir, 'b.yaml');
    await writeFile(file, 'dataDir: /srv/berth\n');
    const config = loadConfig({ env: { BERTH_CONFIG: file, BERTH_DATABASE_URL: 'postgres://u@h:5432/db' } });
    expect(config.dataDir).toBe('/srv/berth');
    expect(config.database.url).toBe('postgres://u@h:5432/db');
  });

  it('names the key, the source and what is allowed for a bad value', () => {
    expect(() => loadConfig({ env: { BERTH_SERVER_PORT: 'abc' } })).toThrow(
      /server\.port \[from environment variable BERTH_SERVER_PORT\]: .*\(allowed: number\)/,
    );
    expect(() => loadConfig({ env: {}, flags: { 'server.port': '70000' } })).toThrow(/server\.port \[from command line\]: .*65535/);
    expect(() => loadConfig({ env: { BERTH_DATABASE_URL: 'mysql://x' } })).toThrow(/database\.url .*must start with sqlite:, postgres:\/\/ or postgresql:\/\//);
  });

  it('refuses unknown keys in the file and unknown flags', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-cfg-'));
    const file = join(dir, 'berth.yaml');
    await writeFile(file, 'server:\n  prot: 5000\n');
    expect(() => loadConfig({ file, env: {} })).toThrow(/server .*unknown setting\(s\) "prot"/);
    expect(() => loadConfig({ env: {}, flags: { 'server.prot': '1' } })).toThrow(ConfigError);
  });

  it('refuses a file that is not YAML or not a mapping', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-cfg-'));
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'server: [unclosed\n');
    expect(() => loadConfig({ file: bad, env: {} })).toThrow(/not valid YAML/);
    await writeFile(bad, '- a\n- b\n');
    expect(() => loadConfig({ file: bad, env: {} })).toThrow(/must hold a mapping/);
    expect(() => loadConfig({ file: join(dir, 'missing.yaml'), env: {} })).toThrow(/cannot read config file/);
  });

  it('derives an environment variable for every key', () => {
    const envs = configKeys().map((k) => k.env);
    expect(envs).toContain('BERTH_SERVER_PUBLIC_URL');
    expect(envs).toContain('BERTH_REGISTRY_MAX_MANIFEST_BYTES');
    expect(envs).toContain('BERTH_STORAGE_FILESYSTEM_ROOT');
    expect(new Set(envs).size).toBe(envs.length);
  });

  it('keeps docs/config.md identical to the reference generated from the schema', async () => {
    const committed = await readFile(new URL('../../docs/config.md', import.meta.url), 'utf8');
    expect(committed).toBe(configReference());
  });
});
