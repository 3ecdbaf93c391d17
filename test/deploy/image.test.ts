import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { freePort } from '../helpers/ports.js';

/**
 * Builds Berth's image from the Containerfile with buildah, checks its configuration and size,
 * runs Berth from the image's root filesystem (chroot into `buildah mount`: running containers
 * with podman fails on this project's CI machine), pushes the image into that Berth and pulls it
 * back with skopeo, then runs the build-and-push commands of deploy/ci/*.yml as the files say.
 *
 * Base images come from deploy/image/local-base.sh (debootstrap + Node.js from npm; no container
 * registry is reachable here). Everything lives in a buildah store that persists between runs
 * (BERTH_IMAGE_CACHE, default /var/tmp/berth-image-cache), so the bases are built once (~4.5
 * minutes) and the dependency stage (npm ci, tagged localhost/berth-cache:deps) is reused until
 * package-lock.json changes.
 */

const exec = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cache = process.env.BERTH_IMAGE_CACHE ?? '/var/tmp/berth-image-cache';
const storageConf = join(cache, 'storage.conf');
const image = 'localhost/berth:test';
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
const revision = '0123456789abcdef0123456789abcdef01234567';
const adminPassword = 'Image-Test-Passw0rd';

async function missing(): Promise<string[]> {
  const out: string[] = [];
  for (const tool of ['buildah', 'skopeo', 'debootstrap', 'chroot', 'mount']) {
    try {
      await exec('sh', ['-c', `command -v ${tool}`]);
    } catch {
      out.push(tool);
    }
  }
  return out;
}
// Several minutes of buildah on two cores: not part of `npm test` (which must stay within its time
// and whose timing-sensitive tests would share the cores); .ci/run runs it on its own afterwards.
const requested = process.env.BERTH_IMAGE_TEST === '1';
const absent = requested ? await missing() : [];
const notRoot = process.getuid?.() !== 0;
const skip = !requested || absent.length > 0 || notRoot;
if (skip) {
  console.warn(
    `SKIPPING the container image tests: ${
      !requested
        ? 'set BERTH_IMAGE_TEST=1 to run them (about 10 minutes; .ci/run does, after npm test)'
        : notRoot
          ? 'they need root (chroot, mount, debootstrap)'
          : `${absent.join(', ')} missing (Debian: apt-get install -y buildah skopeo debootstrap)`
    }`,
  );
}

const env = () => ({ ...process.env, CONTAINERS_STORAGE_CONF: storageConf, STORAGE_DRIVER: 'vfs', BUILDAH_ISOLATION: 'chroot' });

async function run(cmd: string, args: string[], options: { timeout?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<string> {
  try {
    const { stdout } = await exec(cmd, args, { timeout: options.timeout ?? 120_000, maxBuffer: 256 * 1024 * 1024, env: options.env ?? env(), cwd: options.cwd ?? root });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.message}\n${(e.stderr ?? '').slice(-4000)}${(e.stdout ?? '').slice(-4000)}`);
  }
}

interface ImageConfig {
  config: {
    User: string;
    ExposedPorts: Record<string, object>;
    Volumes: Record<string, object>;
    Env: string[];
    Entrypoint: string[];
    Cmd: string[];
    WorkingDir: string;
    Labels: Record<string, string>;
    Healthcheck: { Test: string[]; Interval: number; Timeout: number; StartPeriod: number; Retries: number };
  };
}

describe.skipIf(skip)(`Berth's container image${skip ? ' (skipped)' : ''}`, () => {
  let work: string;
  let config: ImageConfig['config'];
  let container: string;
  let mnt: string;
  let berth: ChildProcess | undefined;
  let port: number;
  let host: string;
  const mounts: string[] = [];
  const timings: string[] = [];

  async function timed<T>(what: string, f: () => Promise<T>): Promise<T> {
    const start = Date.now();
    try {
      return await f();
    } finally {
      timings.push(`${what}: ${((Date.now() - start) / 1000).toFixed(1)} s`);
    }
  }

  beforeAll(async () => {
    await mkdir(cache, { recursive: true });
    await writeFile(storageConf, `[storage]\ndriver = "vfs"\ngraphroot = "${cache}/storage"\nrunroot = "${cache}/run"\n`);
    work = await mkdtemp(join(tmpdir(), 'berth-image-'));
    await timed('local base images (reused when present)', () => run(join(root, 'deploy/image/local-base.sh'), [], { timeout: 20 * 60_000 }));
    const baseArgs = (await run(join(root, 'deploy/image/local-base.sh'), ['--build-args'])).trim().split(/\s+/);
    // Only this store's leftovers of earlier runs go: working containers a killed run left behind
    // (they hold their images), then untagged images. The bases and the dependency stage stay
    // tagged, so their layers are reused. The store is this test's own, so no one else's go.
    const stale = (await readFile('/proc/mounts', 'utf8')).split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(`${cache}/`));
    for (const m of stale.reverse()) await exec('umount', ['-l', m]).catch(() => undefined);
    await run('buildah', ['rm', '--all']);
    await run('buildah', ['rmi', '--prune']);
    await timed('buildah build --target deps (cached until package-lock.json changes)', () =>
      run('buildah', ['build', '--format', 'docker', '--layers', ...baseArgs, '--target', 'deps', '-t', 'localhost/berth-cache:deps', '.'], { timeout: 30 * 60_000 }),
    );
    await timed('buildah build', () =>
      run('buildah', ['build', '--format', 'docker', '--layers', ...baseArgs,
        '--build-arg', `VERSION=${version}`, '--build-arg', `REVISION=${revision}`, '--build-arg', 'CREATED=2026-12-03T00:00:00Z',
        '--build-arg', 'SOURCE_URL=https://example.com/berth.git', '-t', image, '.'], { timeout: 30 * 60_000 }),
    );
    config = (JSON.parse(await run('buildah', ['inspect', '--type', 'image', image])) as { Docker: ImageConfig }).Docker.config;
  }, 50 * 60_000);

  afterAll(async () => {
    if (berth && berth.exitCode === null) {
      berth.kill('SIGTERM');
      await new Promise((r) => berth!.once('exit', r));
    }
    for (const m of mounts.reverse()) await exec('umount', ['-l', m]).catch(() => undefined);
    if (container) await run('buildah', ['rm', container]).catch(() => undefined);
    // vfs keeps a full copy of the root filesystem per layer: drop the images the CI steps built
    // (tagged with this run's port, never reused) and this run's intermediate images.
    if (host) {
      const names = (await run('buildah', ['images', '--format', '{{.Name}}:{{.Tag}}']).catch(() => '')).split('\n').filter((n) => n.startsWith(`${host}/`));
      if (names.length > 0) await run('buildah', ['rmi', ...names]).catch(() => undefined);
    }
    await run('buildah', ['rmi', '--prune']).catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
    console.log(`image test timings:\n  ${timings.join('\n  ')}`);
  }, 120_000);

  it('runs as an unprivileged user, exposes 5000, declares /data, checks /healthz and carries OCI annotations', () => {
    expect(config.User).toBe('10001:10001');
    expect(Object.keys(config.ExposedPorts)).toEqual(['5000/tcp']);
    expect(Object.keys(config.Volumes)).toEqual(['/data']);
    expect(config.WorkingDir).toBe('/data');
    expect(config.Entrypoint).toEqual(['node', '/app/dist/cli/main.js']);
    expect(config.Cmd).toEqual(['serve']);
    expect(config.Env).toEqual(expect.arrayContaining(['NODE_ENV=production', 'BERTH_DATA_DIR=/data', 'BERTH_SERVER_PORT=5000']));
    expect(config.Healthcheck.Test[0]).toBe('CMD');
    expect(config.Healthcheck.Test.join(' ')).toContain('/healthz');
    expect(config.Healthcheck).toMatchObject({ Interval: 30e9, Timeout: 5e9, StartPeriod: 20e9, Retries: 3 });
    expect(config.Labels).toMatchObject({
      'org.opencontainers.image.source': 'https://example.com/berth.git',
      'org.opencontainers.image.revision': revision,
      'org.opencontainers.image.version': version,
      'org.opencontainers.image.licenses': 'Apache-2.0',
      'org.opencontainers.image.created': '2026-12-03T00:00:00Z',
    });
  });

  it('is small: the runtime stage holds Node.js, the compiled server and production dependencies only', async () => {
    // buildah prints sizes as go-units does: three significant digits, decimal units ("258 MB").
    const sizeOf = async (name: string) => {
      const [entry] = JSON.parse(await run('buildah', ['images', '--json', name])) as Array<{ size: string }>;
      const m = /^([\d.]+)\s*(B|kB|MB|GB)$/.exec(entry!.size);
      expect(m, entry!.size).not.toBeNull();
      return Number(m![1]) * { B: 1, kB: 1e3, MB: 1e6, GB: 1e9 }[m![2] as 'B' | 'kB' | 'MB' | 'GB'];
    };
    const size = await sizeOf(image);
    const base = await sizeOf('localhost/berth-base/node:24-bookworm-slim');
    console.log(`image size (uncompressed): ${size / 1e6} MB, of which the base ${base / 1e6} MB`);
    // What Berth adds to its base: dist, web/dist and production node_modules.
    expect(size - base).toBeLessThan(100e6);
    expect(size).toBeLessThan(300e6);
    // No build tools, sources or dev dependencies reached the runtime image.
    container = (await run('buildah', ['from', '--pull-never', image])).trim();
    mnt = (await run('buildah', ['mount', container])).trim();
    const ls = (p: string) => run('sh', ['-c', `ls ${p} 2>/dev/null || true`]);
    expect((await ls(`${mnt}/usr/bin/g++ ${mnt}/usr/local/bin/npm ${mnt}/app/src ${mnt}/app/node_modules/typescript ${mnt}/app/node_modules/vite`)).trim()).toBe('');
    expect((await ls(`${mnt}/app`)).trim().split('\n').sort()).toEqual(['dist', 'native', 'node_modules', 'package.json', 'web']);
    // Berth's own addon (native/malloc-trim): its binary and loader only, not its C source.
    const addon = await run('sh', ['-c', `cd ${mnt}/app/native && find . -type f | sort`]);
    expect(addon.trim().split('\n')).toEqual(['./malloc-trim/build/Release/malloc_trim.node', './malloc-trim/index.js', './malloc-trim/package.json']);
  });

  it('Berth starts from the image’s root filesystem as its user, answers /healthz, and its HEALTHCHECK passes', async () => {
    expect(mnt).toBeTruthy();
    for (const dir of ['proc', 'dev']) {
      await run('mount', ['--bind', `/${dir}`, `${mnt}/${dir}`]);
      mounts.push(`${mnt}/${dir}`);
    }
    port = await freePort();
    host = `127.0.0.1:${port}`;
    // The image's own environment, user, working directory, entrypoint and command.
    const [uid, gid] = config.User.split(':');
    const inImage = (args: string[], extraEnv: string[] = []) => [
      `--userspec=${uid}:${gid}`, mnt, '/usr/bin/env', '-i', '-C', config.WorkingDir, ...config.Env,
      `BERTH_SERVER_HOST=127.0.0.1`, `BERTH_SERVER_PORT=${port}`, ...extraEnv, ...args,
    ];
    // The addon loads from the image's node_modules and can trim (the base's C library is glibc).
    const trim = await run('chroot', inImage(['node', '-e', "const m = require('/app/node_modules/@berth/malloc-trim'); process.stdout.write(String(m.supported && typeof m.trim() === 'boolean'))"]));
    expect(trim.trim()).toBe('true');
    const output: string[] = [];
    berth = spawn('chroot', inImage([...config.Entrypoint, ...config.Cmd], [`BERTH_ADMIN_PASSWORD=${adminPassword}`, 'BERTH_SERVER_WORKERS=1']), { stdio: ['ignore', 'pipe', 'pipe'] });
    berth.stdout!.on('data', (c: Buffer) => output.push(c.toString()));
    berth.stderr!.on('data', (c: Buffer) => output.push(c.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Berth did not listen within 60 s:\n${output.join('')}`)), 60_000);
      const check = () => {
        if (output.join('').includes('berth is listening')) {
          clearTimeout(timer);
          resolve();
        }
      };
      berth!.stdout!.on('data', check);
      berth!.once('exit', (code) => reject(new Error(`Berth exited with ${code}:\n${output.join('')}`)));
    });
    const health = await fetch(`http://${host}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    // The HEALTHCHECK command, run the way a container engine runs it: inside the image.
    await run('chroot', inImage(config.Healthcheck.Test.slice(1)));
    // Its database and blobs went to the /data volume, owned by the image's user.
    const owners = await run('sh', ['-c', `stat -c '%u:%g %n' ${mnt}/data ${mnt}/data/berth.db`]);
    expect(owners.trim().split('\n').map((l) => l.split(' ')[0])).toEqual(['10001:10001', '10001:10001']);
  }, 90_000);

  it('Berth holds its own image: skopeo pushes it into the Berth running from it and pulls it back', async () => {
    expect(berth?.exitCode).toBe(null);
    const creds = `admin:${adminPassword}`;
    await timed('skopeo push into Berth', () =>
      run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', creds, `containers-storage:${image}`, `docker://${host}/library/berth:${version}`], { timeout: 300_000 }),
    );
    const remote = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', '--creds', creds, `docker://${host}/library/berth:${version}`])) as { Digest: string; Labels: Record<string, string>; LayersData: Array<{ Size: number }> };
    expect(remote.Labels['org.opencontainers.image.revision']).toBe(revision);
    const raw = JSON.parse(await run('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', creds, `docker://${host}/library/berth:${version}`])) as { mediaType: string; layers: Array<{ size: number; mediaType: string }> };
    const compressed = raw.layers.reduce((n, l) => n + l.size, 0);
    console.log(`image size (compressed, as pushed): ${(compressed / 1e6).toFixed(1)} MB in ${raw.layers.length} layers (${raw.layers[0]!.mediaType})`);
    expect(raw.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(compressed).toBeLessThan(150e6);
    // Pulled back: the same manifest digest and every layer's bytes.
    const layout = join(work, 'pulled');
    await timed('skopeo pull from Berth', () =>
      run('skopeo', ['copy', '--src-tls-verify=false', '--src-creds', creds, `docker://${host}/library/berth:${version}`, `oci:${layout}:berth`], { timeout: 300_000 }),
    );
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const pulledManifest = JSON.parse(await readFile(join(layout, 'blobs', ...index.manifests[0]!.digest.split(':')), 'utf8')) as { layers: Array<{ size: number }> };
    expect(pulledManifest.layers.map((l) => l.size)).toEqual(raw.layers.map((l) => l.size));
    expect(remote.Digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  }, 600_000);

  /** A robot account of project `berth` that may push, as a CI system would hold it. */
  async function robot(name: string): Promise<{ name: string; secret: string }> {
    const auth = { Authorization: `Basic ${Buffer.from(`admin:${adminPassword}`).toString('base64')}`, 'Content-Type': 'application/json' };
    const project = await fetch(`http://${host}/api/v1/projects`, { method: 'POST', headers: auth, body: JSON.stringify({ name: 'berth' }) });
    expect([201, 409]).toContain(project.status);
    const res = await fetch(`http://${host}/api/v1/projects/berth/robots`, { method: 'POST', headers: auth, body: JSON.stringify({ name, permissions: [{ project: 'berth', actions: ['pull', 'push'] }] }) });
    expect(res.status).toBe(201);
    return (await res.json()) as { name: string; secret: string };
  }

  async function pushedDigest(tag: string, creds: string): Promise<{ digest: string; labels: Record<string, string> }> {
    const info = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', '--creds', creds, `docker://${host}/berth/berth:${tag}`])) as { Digest: string; Labels: Record<string, string> };
    return { digest: info.Digest, labels: info.Labels };
  }

  it('the GitLab CI job’s script, as written in deploy/ci/gitlab-ci.yml, builds and pushes with a robot account', async () => {
    const file = parse(readFileSync(join(root, 'deploy/ci/gitlab-ci.yml'), 'utf8')) as { variables: Record<string, string>; 'build-image': { script: string[] } };
    const account = await robot('gitlab');
    const sha = 'feedfacefeedfacefeedfacefeedfacefeedface';
    const baseArgs = Object.fromEntries((await run(join(root, 'deploy/image/local-base.sh'), ['--build-args'])).trim().split(/\s+/).filter((a) => a !== '--build-arg').map((a) => a.split('=') as [string, string]));
    // GitLab's variables, in order, with the ones the test must change: this Berth, the local bases, plain HTTP.
    const variables = { ...file.variables, REGISTRY: host, NODE_IMAGE: baseArgs.NODE_IMAGE!, RUNTIME_IMAGE: baseArgs.RUNTIME_IMAGE!, TLS_VERIFY: 'false' };
    const script = [
      'set -eu',
      `export REGISTRY_AUTH_FILE='${join(work, 'gitlab-auth.json')}'`,
      ...Object.entries(variables).map(([k, v]) => `export ${k}="${v}"`),
      `export CI_COMMIT_SHA=${sha} CI_COMMIT_SHORT_SHA=${sha.slice(0, 8)} CI_COMMIT_TAG=v${version} CI_PROJECT_URL=https://gitlab.example.com/berth/berth`,
      `export BERTH_ROBOT_NAME='${account.name}' BERTH_ROBOT_SECRET='${account.secret}'`,
      ...file['build-image'].script,
    ].join('\n');
    const out = await timed('GitLab CI script', () => run('sh', ['-c', script], { timeout: 30 * 60_000, cwd: root }));
    const digest = (await readFile(join(root, 'image.digest'), 'utf8')).trim();
    await rm(join(root, 'image.digest'), { force: true });
    expect(out).toContain(`pushed ${host}/berth/berth@${digest}`);
    const creds = `${account.name}:${account.secret}`;
    const short = await pushedDigest(sha.slice(0, 8), creds);
    expect(short.digest).toBe(digest);
    expect(short.labels).toMatchObject({ 'org.opencontainers.image.revision': sha, 'org.opencontainers.image.version': `v${version}`, 'org.opencontainers.image.source': 'https://gitlab.example.com/berth/berth' });
    expect((await pushedDigest(`v${version}`, creds)).digest).toBe(digest);
  }, 30 * 60_000);

  it('the GitHub Actions steps, as written in deploy/ci/github-actions.yml, build and push with a robot account', async () => {
    type Step = { name?: string; uses?: string; run?: string; env?: Record<string, string> };
    const file = parse(readFileSync(join(root, 'deploy/ci/github-actions.yml'), 'utf8')) as { jobs: { image: { env: Record<string, string>; steps: Step[] } } };
    const job = file.jobs.image;
    const account = await robot('github');
    const sha = 'c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff';
    const baseArgs = Object.fromEntries((await run(join(root, 'deploy/image/local-base.sh'), ['--build-args'])).trim().split(/\s+/).filter((a) => a !== '--build-arg').map((a) => a.split('=') as [string, string]));
    // The expressions GitHub would substitute, for a push to main.
    const expressions: Record<string, string> = {
      'vars.BERTH_REGISTRY': host,
      "github.ref_type == 'tag' && github.ref_name || github.sha": sha,
      'github.sha': sha,
      'github.server_url': 'https://github.example.com',
      'github.repository': 'berth/berth',
      'secrets.BERTH_ROBOT_NAME': account.name,
      'secrets.BERTH_ROBOT_SECRET': account.secret,
    };
    const substitute = (s: string) =>
      s.replace(/\$\{\{\s*(.*?)\s*\}\}/g, (_m, expr: string) => {
        const value = expressions[expr];
        if (value === undefined) throw new Error(`no value for the expression ${expr}`);
        return value;
      });
    const jobEnv = Object.fromEntries(Object.entries(job.env).map(([k, v]) => [k, substitute(String(v))]));
    Object.assign(jobEnv, { NODE_IMAGE: baseArgs.NODE_IMAGE!, RUNTIME_IMAGE: baseArgs.RUNTIME_IMAGE!, TLS_VERIFY: 'false' });
    const summary = join(work, 'step-summary.md');
    const steps = job.steps.filter((s) => s.run !== undefined);
    expect(steps.map((s) => s.name)).toEqual(['Build', 'Push with the robot account']);
    await timed('GitHub Actions steps', async () => {
      for (const step of steps) {
        const stepEnv = Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, substitute(String(v))]));
        // GitHub runs `run` with bash -e -o pipefail.
        await run('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', substitute(step.run!)], {
          timeout: 30 * 60_000,
          env: { ...env(), ...jobEnv, ...stepEnv, GITHUB_STEP_SUMMARY: summary, REGISTRY_AUTH_FILE: join(work, 'github-auth.json') },
        });
      }
    });
    const digest = (await readFile(join(root, 'image.digest'), 'utf8')).trim();
    await rm(join(root, 'image.digest'), { force: true });
    expect(await readFile(summary, 'utf8')).toBe(`pushed ${host}/berth/berth@${digest}\n`);
    const pushed = await pushedDigest(sha, `${account.name}:${account.secret}`);
    expect(pushed.digest).toBe(digest);
    expect(pushed.labels).toMatchObject({ 'org.opencontainers.image.revision': sha, 'org.opencontainers.image.source': 'https://github.example.com/berth/berth' });
  }, 30 * 60_000);
});
