import { createHash } from 'node:crypto';
import type { ResolvedConfig } from '../../src/config/load.js';
import { connect } from '../../src/adapters/db/connect.js';
import { createBlobStore } from '../../src/adapters/storage/index.js';
import { parseDigest } from '../../src/domain/digest.js';
import type { Database } from '../../src/adapters/db/connect.js';

/**
 * Checks a registry's database against its storage from outside (its own connection and
 * driver): every blob row has its object, of its size and hashing to its digest; every tag,
 * manifest reference and repository link points at rows that exist; no upload row without its
 * session bytes; every project's usage equals a recount from scratch. Resolves the problems
 * found (none when consistent).
 */
export async function checkConsistency(berth: { config: ResolvedConfig }, options: { hash?: boolean } = {}): Promise<{ problems: string[] }> {
  const database = connect({ url: berth.config.database.url, poolSize: 2 });
  const store = await createBlobStore(berth.config.storage);
  const problems: string[] = [];
  try {
    const { db } = database;
    const blobs = await db.selectFrom('blob').select(['digest', 'size']).execute();
    for (const blob of blobs) {
      const { digest, algorithm } = parseDigest(blob.digest);
      const stat = await store.stat(digest);
      if (!stat) {
        problems.push(`blob ${blob.digest}: no object in storage`);
        continue;
      }
      if (stat.size !== Number(blob.size)) problems.push(`blob ${blob.digest}: ${stat.size} bytes in storage, ${blob.size} in the database`);
      if (options.hash !== false) {
        const hash = createHash(algorithm);
        for await (const chunk of await store.read(digest)) hash.update(chunk as Buffer);
        if (`${algorithm}:${hash.digest('hex')}` !== blob.digest) problems.push(`blob ${blob.digest}: content does not hash to its digest`);
      }
    }
    const known = new Set(blobs.map((b) => b.digest));
    for (const row of await db.selectFrom('manifest_reference').select(['parent_digest', 'child_digest']).execute()) {
      if (!known.has(row.child_digest)) problems.push(`manifest ${row.parent_digest}: references ${row.child_digest}, which is not stored`);
    }
    for (const row of await db.selectFrom('repository_blob').select(['digest']).execute()) {
      if (!known.has(row.digest)) problems.push(`repository link to ${row.digest}, which is not stored`);
    }
    for (const row of await db.selectFrom('tag').leftJoin('manifest', (j) => j.onRef('manifest.repository_id', '=', 'tag.repository_id').onRef('manifest.digest', '=', 'tag.manifest_digest')).select(['tag.name', 'tag.manifest_digest', 'manifest.digest as found']).execute()) {
      if (row.found === null) problems.push(`tag ${row.name}: points at ${row.manifest_digest}, which is not a manifest of its repository`);
    }
    for (const row of await db.selectFrom('upload').select(['id', 'received']).execute()) {
      const size = await store.uploadSize(row.id);
      if (size === undefined) problems.push(`upload ${row.id}: no session in storage`);
      else if (size !== Number(row.received)) problems.push(`upload ${row.id}: ${size} bytes in storage, ${row.received} in the database`);
    }
    problems.push(...(await usageProblems(db)));
  } finally {
    await database.db.destroy();
    await store.close?.();
  }
  return { problems };
}

/**
 * Projects' usage as Berth keeps it, compared with a recount here from the manifests: each
 * digest a project's manifests are or reference counted once with its size, and its manifests.
 */
export async function recountUsage(db: Database['db']): Promise<Map<string, { bytes: number; artifacts: number }>> {
  const repositories = new Map((await db.selectFrom('repository').select(['id', 'name']).execute()).map((r) => [r.id, r.name.split('/')[0]!]));
  const sizes = new Map((await db.selectFrom('blob').select(['digest', 'size']).execute()).map((b) => [b.digest, Number(b.size)]));
  const digests = new Map<string, Set<string>>();
  const usage = new Map<string, { bytes: number; artifacts: number }>();
  const add = (repositoryId: number, digest: string) => {
    const project = repositories.get(repositoryId)!;
    if (!digests.has(project)) digests.set(project, new Set());
    digests.get(project)!.add(digest);
  };
  for (const m of await db.selectFrom('manifest').select(['repository_id', 'digest']).execute()) {
    add(m.repository_id, m.digest);
    const project = repositories.get(m.repository_id)!;
    usage.set(project, { bytes: 0, artifacts: (usage.get(project)?.artifacts ?? 0) + 1 });
  }
  for (const r of await db.selectFrom('manifest_reference').select(['repository_id', 'child_digest']).execute()) add(r.repository_id, r.child_digest);
  for (const [project, set] of digests) usage.get(project)!.bytes = [...set].reduce((sum, d) => sum + (sizes.get(d) ?? 0), 0);
  return usage;
}

async function usageProblems(db: Database['db']): Promise<string[]> {
  const expected = await recountUsage(db);
  const kept = new Map((await db.selectFrom('project_usage').select(['project', 'bytes', 'artifacts']).execute()).map((u) => [u.project, { bytes: Number(u.bytes), artifacts: Number(u.artifacts) }]));
  const problems: string[] = [];
  for (const project of new Set([...expected.keys(), ...kept.keys()])) {
    const want = expected.get(project) ?? { bytes: 0, artifacts: 0 };
    const have = kept.get(project) ?? { bytes: 0, artifacts: 0 };
    if (want.bytes !== have.bytes || want.artifacts !== have.artifacts) {
      problems.push(`project ${project}: usage kept as ${have.bytes} bytes, ${have.artifacts} artifacts; recounted ${want.bytes} bytes, ${want.artifacts} artifacts`);
    }
  }
  return problems;
}
