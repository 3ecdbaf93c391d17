import { describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configKeys, loadConfig } from '../../src/config/load.js';
import { envNameOf, peekSettings, type ConfigSources } from '../../src/config/sources.js';

/** One setting as given. */
const peekSetting = async (sources: ConfigSources, path: readonly string[]) => (await peekSettings(sources, [path]))[0];

describe('settings as given (what the cluster primary reads)', () => {
  it('names every setting\'s environment variable as the schema\'s reference does', () => {
    for (const key of configKeys()) expect(envNameOf(key.path)).toBe(key.env);
    expect(envNameOf(['server', 'shutdownTimeoutMs'])).toBe('BERTH_SERVER_SHUTDOWN_TIMEOUT_MS');
  });

  it('takes the command line over the environment over the file, as loadConfig does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-peek-'));
    try {
      const file = join(dir, 'berth.yaml');
      await writeFile(file, 'server:\n  workers: 3\n  port: 6001\nlog:\n  level: debug\n');
      const workers = ['server', 'workers'];
      expect(await peekSetting({ file, env: {} }, workers)).toBe(3);
      expect(await peekSetting({ env: { BERTH_CONFIG: file } }, workers)).toBe(3);
      expect(await peekSetting({ file, env: { BERTH_SERVER_WORKERS: '4' } }, workers)).toBe('4');
      // An empty variable is no value, for loadConfig too.
      expect(await peekSetting({ file, env: { BERTH_SERVER_WORKERS: '' } }, workers)).toBe(3);
      expect(await peekSetting({ file, env: { BERTH_SERVER_WORKERS: '4' }, flags: { 'server.workers': '5' } }, workers)).toBe('5');
      expect(await peekSetting({ file, env: {} }, ['log', 'level'])).toBe('debug');
      // Several at once, from different sources, the file read once for all of them.
      expect(await peekSettings({ file, env: { BERTH_SERVER_WORKERS: '4' } }, [['server', 'workers'], ['log', 'level'], ['server', 'port'], ['server', 'host']])).toEqual(['4', 'debug', 6001, undefined]);
      // Each agrees with what the whole configuration resolves to.
      expect(loadConfig({ file, env: { BERTH_SERVER_WORKERS: '4' } }).server.workers).toBe(4);
      expect(loadConfig({ file, env: {} }).log.level).toBe('debug');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gives nothing for a setting no source names, a file that cannot be read or parsed, or a path through a value', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-peek-'));
    try {
      const broken = join(dir, 'broken.yaml');
      await writeFile(broken, 'server: [unclosed\n');
      const scalar = join(dir, 'scalar.yaml');
      await writeFile(scalar, 'server: 8\n');
      expect(await peekSetting({ env: {} }, ['server', 'workers'])).toBeUndefined();
      expect(await peekSetting({ file: broken, env: {} }, ['server', 'workers'])).toBeUndefined();
      expect(await peekSetting({ file: join(dir, 'missing.yaml'), env: {} }, ['server', 'workers'])).toBeUndefined();
      expect(await peekSetting({ file: scalar, env: {} }, ['server', 'workers'])).toBeUndefined();
      // loadConfig refuses the same files, and says why.
      expect(() => loadConfig({ file: broken, env: {} })).toThrow(/is not valid YAML/);
      expect(() => loadConfig({ file: join(dir, 'missing.yaml'), env: {} })).toThrow(/cannot read config file/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
