import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/adapters/db/connect.js';
import { jobValues } from '../../src/adapters/db/kysely-job-store.js';
import { engineMatrix, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient } from '../helpers/api.js';
import { ContainerTools, missingTools } from '../helpers/clients.js';
import { OCI_MANIFEST, RegistryClient, randomImage, type Image } from '../helpers/oci.js';
import { writeOciLayout } from '../helpers/oci-layout.js';

const engines = await engineMatrix();
const toolsMissing = await missingTools(['skopeo']);

interface Run {
  id: number;
  status: string;
  dryRun: boolean;
  kept: number;
  deleted: number;
  report: Array<{ repository: string; digest: string; tags: string[]; action: string; reason: string }> | null;
}

for (const { engine, skip } of engines) {
  describe.skipIf(skip !== undefined)(`retention and immutability on ${engine}`, () => {
    let berth: TestBerth;
    let admin: ApiClient;
    let registry: RegistryClient;
    const pushed = new Map<string, Image>();

    beforeAll(async () => {
      berth = await startTestBerth({ engine, settings: { 'jobs.pollIntervalMs': 50 } });
      admin = new ApiClient(berth.url);
      registry = new RegistryClient(berth.url);
      await admin.createProject('ret');
      // Pushed in this order, a little apart, so "most recently pushed" is well defined.
      for (const [repo, tags] of [
        ['ret/app', ['v1.0.0']],
        ['ret/app', ['v1.1.0']],
        ['ret/app', ['v1.2.0']],
        ['ret/app', ['v1.10.0', 'latest']],
        ['ret/app', ['dev-1']],
        ['ret/web', ['v2.0.0']],
        ['ret/web', ['latest']],
      ] as const) {
        const image = randomImage(1, 512);
        for (const [i, tag] of tags.entries()) {
          if (i === 0) await registry.pushImage(repo, tag, image);
          else expect((await registry.pushManifest(repo, tag, image.manifest)).status).toBe(201);
        }
        pushed.set(`${repo}:${tags[0]}`, image);
        await new Promise((r) => setTimeout(r, 15));
      }
    });
    afterAll(async () => {
      await berth?.stop();
    });

    async function retention(dryRun: boolean): Promise<Run> {
      const started = await admin.ok<Run>('POST', '/projects/ret/retention/runs', { dryRun });
      const deadline = Date.now() + 15_000;
      for (;;) {
        const run = await admin.ok<Run>('GET', `/projects/ret/retention/runs/${started.id}`);
        if (run.status === 'succeeded' || run.status === 'failed') return run;
        if (Date.now() > deadline) throw new Error(`retention run ${started.id} still ${run.status}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const exists = async (repo: string, image: Image) => (await registry.fetch(`/v2/${repo}/manifests/${image.digest}`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } })).status === 200;

    it('refuses bad policies with a clear error and changes nothing', async () => {
      const put = (body: unknown) => admin.call('PUT', '/projects/ret/retention', body);
      const good = { rules: [{ repositories: { pattern: '**' }, tags: { pattern: '**' }, keep: { kind: 'always' } }], schedule: '' };
      expect((await put(good)).status).toBe(200);
      const cases: Array<[unknown, string]> = [
        [{ rules: [{ ...good.rules[0], tags: { pattern: 'v{1,2' } }], schedule: '' }, 'rule 1 tags: invalid pattern "v{1,2": unclosed {'],
        [{ rules: [{ ...good.rules[0], keep: { kind: 'latestPushed', value: -1 } }], schedule: '' }, 'keep.value'],
        [{ rules: [{ ...good.rules[0], keep: { kind: 'latestPushed' } }], schedule: '' }, 'value is required for every kind but always'],
        [{ rules: Array(16).fill(good.rules[0]), schedule: '' }, 'rules'],
        [{ ...good, schedule: 'every day' }, 'schedule: "every day" is not a cron expression'],
      ];
      for (const [body, message] of cases) {
        const res = await put(body);
        expect(res.status, message).toBe(400);
        expect(((await res.json()) as { title: string }).title, message).toContain(message);
      }
      expect(await admin.ok('GET', '/projects/ret/retention')).toEqual({ ...good, rules: [{ ...good.rules[0], untagged: false }] });
      // A developer may read the policy but not change it.
      await admin.createUser('dev', 'Dev-Passw0rd');
      await admin.addMember('ret', 'dev', 'developer');
      const dev = new ApiClient(berth.url, { username: 'dev', password: 'Dev-Passw0rd' });
      expect((await dev.call('GET', '/projects/ret/retention')).status).toBe(200);
      expect((await dev.call('PUT', '/projects/ret/retention', good)).status).toBe(403);
    });

    it('keeps the union of the rules, deletes the rest, and the dry run says exactly what the run does', async () => {
      await admin.ok('PUT', '/projects/ret/retention', {
        rules: [
          { repositories: { pattern: 'app' }, tags: { pattern: 'v*' }, keep: { kind: 'highestSemver', value: 2 } },
          { repositories: { pattern: '**' }, tags: { pattern: 'latest' }, keep: { kind: 'always' } },
        ],
        schedule: '',
      });
      const preview = await retention(true);
      const decisions = Object.fromEntries(preview.report!.map((e) => [`${e.repository}:${e.tags.join(',')}`, `${e.action}: ${e.reason}`]));
      expect(decisions).toEqual({
        'ret/app:v1.0.0': 'delete: no rule keeps it',
        'ret/app:v1.1.0': 'delete: no rule keeps it',
        'ret/app:v1.2.0': 'keep: kept by rule 1',
        'ret/app:latest,v1.10.0': 'keep: kept by rule 1, 2',
        // Tagged, but no rule of the repository selects its tag: Harbor deletes it, so does Berth.
        'ret/app:dev-1': 'delete: no rule keeps it',
        'ret/web:v2.0.0': 'delete: no rule keeps it',
        'ret/web:latest': 'keep: kept by rule 2',
      });
      expect(preview).toMatchObject({ kept: 3, deleted: 4 });
      for (const image of pushed.values()) expect(await exists(image === pushed.get('ret/web:v2.0.0') || image === pushed.get('ret/web:latest') ? 'ret/web' : 'ret/app', image)).toBe(true);

      const run = await retention(false);
      expect(run).toMatchObject({ dryRun: false, kept: preview.kept, deleted: preview.deleted });
      expect(run.report!.map((e) => `${e.repository}:${e.tags.join(',')}=${e.action}`).sort()).toEqual(preview.report!.map((e) => `${e.repository}:${e.tags.join(',')}=${e.action}`).sort());
      expect(await exists('ret/app', pushed.get('ret/app:v1.0.0')!)).toBe(false);
      expect(await exists('ret/app', pushed.get('ret/app:dev-1')!)).toBe(false);
      expect(await exists('ret/web', pushed.get('ret/web:v2.0.0')!)).toBe(false);
      expect(await exists('ret/app', pushed.get('ret/app:v1.10.0')!)).toBe(true);
      expect(await exists('ret/web', pushed.get('ret/web:latest')!)).toBe(true);
      const runs = await admin.ok<{ items: Run[] }>('GET', '/projects/ret/retention/runs');
      expect(runs.items.map((r) => [r.dryRun, r.deleted])).toEqual([
        [false, 4],
        [true, 4],
      ]);
    });

    it('refuses to move or delete an immutable tag (DENIED, naming the rule), and retention keeps it', async () => {
      await admin.ok('PUT', '/projects/ret/immutability', { rules: [{ repositories: { pattern: 'app' }, tags: { pattern: 'v1.*' } }] });
      const other = randomImage(1, 256);
      const moved = await registry.pushImage('ret/app', 'v9-scratch', other).then(() => registry.pushManifest('ret/app', 'v1.2.0', other.manifest));
      expect(moved.status).toBe(403);
      expect(await moved.json()).toEqual({
        errors: [
          {
            code: 'DENIED',
            message: 'tag v1.2.0 of ret/app is immutable and cannot be moved (immutability rule 1 of project ret: repositories "app", tags "v1.*")',
            detail: { repository: 'ret/app', tag: 'v1.2.0', rule: 'immutability rule 1 of project ret: repositories "app", tags "v1.*"' },
          },
        ],
      });
      // The same content again is no move; a new tag matching the rule may be created once.
      expect((await registry.pushManifest('ret/app', 'v1.2.0', pushed.get('ret/app:v1.2.0')!.manifest)).status).toBe(201);
      expect((await registry.pushManifest('ret/app', 'v1.99.0', other.manifest)).status).toBe(201);
      expect((await registry.fetch('/v2/ret/app/manifests/v1.99.0', { method: 'DELETE' })).status).toBe(403);
      expect((await registry.fetch(`/v2/ret/app/manifests/${other.digest}`, { method: 'DELETE' })).status).toBe(403);
      // Through the management API too.
      const retag = await admin.call('POST', `/projects/ret/repositories/app/artifacts/${other.digest}/tags`, { name: 'v1.2.0' });
      expect(retag.status).toBe(403);

      await admin.ok('PUT', '/projects/ret/retention', { rules: [{ repositories: { pattern: '**' }, tags: { pattern: '**' }, keep: { kind: 'latestPushed', value: 0 } }], schedule: '' });
      const run = await retention(true);
      const immutable = run.report!.filter((e) => e.reason === 'immutable (immutability rule 1)').map((e) => e.tags.join(',')).sort();
      // `other` carries v9-scratch and v1.99.0: one artifact, immutable through the second.
      expect(immutable).toEqual(['latest,v1.10.0', 'v1.2.0', 'v1.99.0,v9-scratch']);
    });

    it('stores a rule the same whether its false flags are given or left out', async () => {
      const before = await admin.ok<{ rules: unknown[] }>('GET', '/projects/ret/immutability');
      const given = { repositories: { pattern: 'app', exclude: false }, tags: { pattern: 'v*', exclude: true }, disabled: false };
      expect(await admin.ok('PUT', '/projects/ret/immutability', { rules: [given] })).toEqual({
        rules: [{ repositories: { pattern: 'app' }, tags: { pattern: 'v*', exclude: true } }],
      });
      const policy = await admin.ok<{ rules: unknown[] }>('PUT', '/projects/ret/retention', {
        rules: [{ ...given, untagged: false, keep: { kind: 'always' } }],
        schedule: '',
      });
      expect(policy.rules).toEqual([{ repositories: { pattern: 'app' }, tags: { pattern: 'v*', exclude: true }, untagged: false, keep: { kind: 'always' } }]);
      expect(await admin.ok('GET', '/projects/ret/immutability')).toEqual({ rules: [{ repositories: { pattern: 'app' }, tags: { pattern: 'v*', exclude: true } }] });
      await admin.ok('PUT', '/projects/ret/immutability', before);
    });

    it('marks a run interrupted when the process running it stopped, instead of leaving it running', async () => {
      // What a process that died mid-run leaves: the run marked running, and its job put back
      // in the queue by the lease reaper after one attempt.
      const database = connect({ url: berth.config.database.url, poolSize: 1 });
      try {
        const project = await database.db.selectFrom('project').select('id').where('name', '=', 'ret').executeTakeFirstOrThrow();
        const now = Date.now();
        const run = await database.db
          .insertInto('retention_run')
          .values({ project_id: project.id, status: 'running', dry_run: 0, triggered_by: 'admin', created_at: now, started_at: now })
          .returning('id')
          .executeTakeFirstOrThrow();
        await database.db
          .insertInto('job')
          .values({ ...jobValues({ type: 'retention.run', payload: { runId: Number(run.id) }, maxAttempts: 2, runAt: now }, now), attempts: 1 })
          .execute();
        const deadline = Date.now() + 10_000;
        let seen: Run & { error: string | null; finishedAt: string | null };
        do {
          await new Promise((r) => setTimeout(r, 50));
          seen = await admin.ok('GET', `/projects/ret/retention/runs/${run.id}`);
        } while (seen.status === 'running' && Date.now() < deadline);
        expect(seen).toMatchObject({ status: 'interrupted', error: 'the process running it stopped; run it again' });
        expect(seen.finishedAt).not.toBeNull();
      } finally {
        await database.db.destroy();
      }
    });

    it.skipIf(toolsMissing.length > 0)('shows skopeo the immutability error on a push that would move the tag', async () => {
      const work = await mkdtemp(join(tmpdir(), 'berth-immutable-'));
      try {
        const tools = new ContainerTools(work);
        await writeFile(tools.env.REGISTRY_AUTH_FILE!, '{}');
        const layout = await writeOciLayout(join(work, 'layout'), 'v1', [{ architecture: 'amd64', files: { 'x.txt': 'immutable\n' } }]);
        const host = new URL(berth.url).host;
        const run = await tools.run('sh', ['-c', `skopeo copy --dest-tls-verify=false --dest-creds admin:Admin-Passw0rd oci:${layout.dir}:v1 docker://${host}/ret/app:v1.2.0 2>&1; echo "exit=$?"`]);
        // skopeo's log line escapes the quotes in the message.
        expect(run.replace(/\\"/g, '"')).toContain('denied: tag v1.2.0 of ret/app is immutable and cannot be moved (immutability rule 1 of project ret: repositories "app", tags "v1.*")');
        expect(run).toMatch(/exit=[1-9]/);
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    });
  });
}
