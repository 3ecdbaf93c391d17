import { afterAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { configKeys, loadConfig } from '../../src/config/load.js';
import { freePort } from '../helpers/ports.js';

const exec = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const composeDir = join(root, 'deploy', 'compose');

async function has(cmd: string): Promise<boolean> {
  try {
    await exec('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}
const dockerCompose = await has('docker-compose');
if (!dockerCompose) console.warn('SKIPPING `docker-compose config` of the Compose files: docker-compose is not installed (Debian: apt-get install -y docker-compose)');
const systemdAnalyze = await has('systemd-analyze');
if (!systemdAnalyze) console.warn('SKIPPING systemd-analyze of deploy/systemd/berth.service: systemd is not installed (Debian: apt-get install -y systemd)');

const knownEnv = new Set([...configKeys().map((k) => k.env), 'BERTH_ADMIN_PASSWORD', 'BERTH_CONFIG', 'BERTH_BANNER']);

interface ComposeFile {
  services: Record<string, { image?: string; environment?: Record<string, string>; volumes?: string[]; healthcheck?: { test: string[] }; depends_on?: Record<string, { condition: string }> }>;
}

/** `docker-compose config`: Docker Compose 1.29 (Debian) validates against its Compose-spec schema and interpolates, without an engine. */
async function composeConfig(file: string, envFile?: string): Promise<ComposeFile> {
  const args = ['-f', file, ...(envFile ? ['--env-file', envFile] : []), 'config'];
  const { stdout } = await exec('docker-compose', args, { cwd: composeDir, env: { PATH: process.env.PATH } });
  return parse(stdout) as ComposeFile;
}

describe('Compose files', () => {
  it.skipIf(!dockerCompose)('compose.yaml: one Berth with its data in a named volume, the image’s health check', async () => {
    const c = await composeConfig('compose.yaml');
    expect(Object.keys(c.services)).toEqual(['berth']);
    const berth = c.services.berth!;
    expect(berth.volumes).toEqual(['berth-data:/data:rw']);
    for (const key of Object.keys(berth.environment ?? {})) expect(knownEnv.has(key), key).toBe(true);
    const containerfile = readFileSync(join(root, 'Containerfile'), 'utf8');
    // The same probe as the image's HEALTHCHECK (written out: Compose cannot inherit and change it).
    expect(containerfile).toContain(berth.healthcheck!.test[3]!.replace("'http://127.0.0.1:5000/healthz'", "'http://127.0.0.1:'+(process.env.BERTH_SERVER_PORT||5000)+'/healthz'"));
  });

  it.skipIf(!dockerCompose)('compose.scale-out.yaml: PostgreSQL, MinIO with its bucket, two Berths Berth accepts the settings of, nginx with TLS', async () => {
    const c = await composeConfig('compose.scale-out.yaml', 'scale-out.env.example');
    expect(Object.keys(c.services).sort()).toEqual(['berth-1', 'berth-2', 'bucket', 'minio', 'nginx', 'postgres']);
    for (const name of ['berth-1', 'berth-2']) {
      const s = c.services[name]!;
      expect(s.depends_on).toEqual({ postgres: { condition: 'service_healthy' }, bucket: { condition: 'service_completed_successfully' } });
      for (const key of Object.keys(s.environment ?? {})) expect(knownEnv.has(key), key).toBe(true);
      // Berth's own loader takes this environment as it stands: the settings exist and their values are allowed.
      const config = loadConfig({ env: s.environment });
      expect(config.database.url).toBe('postgres://berth:change-me-postgres@postgres:5432/berth');
      expect(config.storage.driver).toBe('s3');
      expect(config.storage.s3).toMatchObject({ endpoint: 'http://minio:9000', bucket: 'berth', forcePathStyle: true, accessKeyId: 'berth-s3' });
      expect(config.server).toMatchObject({ trustProxy: true, workers: 1 });
    }
    // nginx mounts the tested proxy settings and a site whose upstreams are the two services.
    const mounts = c.services.nginx!.volumes!.map((v) => v.split(':')[0]!);
    for (const m of mounts.filter((p) => !p.endsWith('/tls'))) expect(existsSync(resolve(composeDir, m)), m).toBe(true);
    expect(mounts.map((m) => resolve(composeDir, m))).toContain(join(root, 'docs/examples/nginx/berth-proxy.conf'));
    const site = readFileSync(join(composeDir, 'nginx/berth.conf'), 'utf8');
    expect(site.match(/server (berth-\d):5000/g)).toEqual(['server berth-1:5000', 'server berth-2:5000']);
    expect(site).toContain('include /etc/nginx/snippets/berth-proxy.conf;');
  });

  it.skipIf(!dockerCompose)('compose.scale-out.yaml refuses to start without its secrets', async () => {
    await expect(composeConfig('compose.scale-out.yaml')).rejects.toThrow(/set POSTGRES_PASSWORD in \.env|set S3_ACCESS_KEY in \.env/);
  });
});

describe.skipIf(!systemdAnalyze)('systemd unit', () => {
  const unit = join(root, 'deploy', 'systemd', 'berth.service');
  let work: string | undefined;
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('systemd-analyze verify finds nothing to say, and its exposure score is below 2 (OK)', async () => {
    const verify = await exec('systemd-analyze', ['verify', unit]);
    expect(verify.stderr).toBe('');
    const security = await exec('systemd-analyze', ['security', '--offline=yes', unit]);
    const score = Number(/Overall exposure level for berth\.service: ([\d.]+)/.exec(security.stdout)?.[1]);
    console.log(`systemd-analyze security: exposure ${score}`);
    expect(score).toBeLessThan(2);
  });

  it('the ExecStart command line starts Berth (with /opt/berth standing for this checkout)', async () => {
    expect(existsSync(join(root, 'dist/cli/main.js')), 'dist/ is built by npm test (pretest)').toBe(true);
    const text = readFileSync(unit, 'utf8');
    const execStart = /^ExecStart=(.*)$/m.exec(text)![1]!.split(' ');
    const environment = Object.fromEntries(/^Environment=(.*)$/m.exec(text)![1]!.split(' ').map((kv) => kv.split('=') as [string, string]));
    expect(environment).toEqual({ NODE_ENV: 'production', BERTH_DATA_DIR: '/var/lib/berth', BERTH_BANNER: '0' });
    work = await mkdtemp(join(tmpdir(), 'berth-systemd-'));
    const port = await freePort();
    await writeFile(join(work, 'berth.yaml'), readFileSync(join(root, 'deploy/systemd/berth.yaml'), 'utf8'));
    const args = execStart.slice(1).map((a) => a.replace('/opt/berth', root).replace('/etc/berth/berth.yaml', join(work!, 'berth.yaml')));
    const proc = spawn(process.execPath, [...args, '--host', '127.0.0.1', '--port', String(port), '--workers', '1'], {
      env: { ...process.env, ...environment, BERTH_DATA_DIR: work, BERTH_ADMIN_PASSWORD: 'Systemd-Passw0rd' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((r) => proc.once('exit', r));
    try {
      let out = '';
      await new Promise<void>((ok, fail) => {
        proc.stdout!.on('data', (c: Buffer) => {
          out += c.toString();
          if (out.includes('berth is listening')) ok();
        });
        proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
        void exited.then((code) => fail(new Error(`berth exited with ${code}: ${out}`)));
      });
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(res.status).toBe(200);
      // The data directory the unit gives (here the temporary one) holds the database.
      expect(existsSync(join(work, 'berth.db'))).toBe(true);
    } finally {
      proc.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
