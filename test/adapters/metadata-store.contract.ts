import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetadataStore, NewManifest } from '../../src/ports/metadata-store.js';
import type { EventStore } from '../../src/ports/event-store.js';
import type { Digest } from '../../src/domain/digest.js';
import { digestOf } from '../../src/domain/digest.js';

export interface MetadataHarness {
  create(): Promise<MetadataStore>;
  destroy(store: MetadataStore): Promise<void>;
  /** The outbox of the same database, to check events are written with their change. */
  events(store: MetadataStore): EventStore;
}

const d = (s: string): Digest => digestOf(Buffer.from(s));

/** A one-byte OCI image manifest with no references, as putManifest takes it. */
const bareManifest = (repositoryId: number, digest: Digest) => ({
  repositoryId,
  digest,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  artifactType: null,
  subjectDigest: null,
  configDigest: null,
  size: 1,
  annotations: null,
  references: [],
});

/** The same metadata behaviour on every engine (issue: one suite, SQLite and PostgreSQL). */
export function metadataStoreContract(name: string, harness: MetadataHarness): void {
  describe(`MetadataStore contract: ${name}`, () => {
    let meta: MetadataStore;
    beforeAll(async () => {
      meta = await harness.create();
    });
    afterAll(async () => {
      if (meta) await harness.destroy(meta);
    });

    it('creates a repository once, however often it is ensured, even concurrently', async () => {
      const rows = await Promise.all(Array.from({ length: 10 }, () => meta.ensureRepository('team/app')));
      expect(new Set(rows.map((r) => r.id)).size).toBe(1);
      expect((await meta.getRepository('team/app'))?.name).toBe('team/app');
      expect(await meta.getRepository('team/none')).toBeUndefined();
    });

    it('lists repositories in byte order with paging', async () => {
      for (const n of ['zz', 'Aa'.toLowerCase(), 'b/c', 'b/a']) await meta.ensureRepository(`list-${n}`);
      const all = await meta.listRepositories({ limit: 100 });
      const mine = all.filter((n) => n.startsWith('list-'));
      expect(mine).toEqual(['list-aa', 'list-b/a', 'list-b/c', 'list-zz']);
      expect(await meta.listRepositories({ limit: 2, last: 'list-aa' })).toEqual(['list-b/a', 'list-b/c']);
    });

    it('links blobs per repository and finds the missing ones', async () => {
      const a = await meta.ensureRepository('blobs/a');
      const b = await meta.ensureRepository('blobs/b');
      await meta.linkBlob(a.id, { digest: d('one'), size: 3 });
      await meta.linkBlob(a.id, { digest: d('one'), size: 3 });
      expect(await meta.getRepositoryBlob(a.id, d('one'))).toEqual({ digest: d('one'), size: 3 });
      expect(await meta.getRepositoryBlob(b.id, d('one'))).toBeUndefined();
      expect(await meta.getBlob(d('one'))).toEqual({ digest: d('one'), size: 3 });
      expect(await meta.missingBlobs(a.id, [d('one'), d('two')])).toEqual([d('two')]);
      expect(await meta.missingBlobs(a.id, [])).toEqual([]);
      expect(await meta.unlinkBlob(a.id, d('one'))).toBe(true);
      expect(await meta.unlinkBlob(a.id, d('one'))).toBe(false);
      expect(await meta.getBlob(d('one'))).toEqual({ digest: d('one'), size: 3 });
    });

    it('finds missing digests among more than one query chunk', async () => {
      const repo = await meta.ensureRepository('blobs/many');
      const digests = Array.from({ length: 1200 }, (_, i) => d(`many-${i}`));
      for (const digest of digests.filter((_, i) => i % 3 !== 0)) await meta.linkBlob(repo.id, { digest, size: 1 });
      expect(await meta.missingBlobs(repo.id, digests)).toEqual(digests.filter((_, i) => i % 3 === 0));
    });

    it('answers what a push checks in one read: the held manifest, the tag, the missing references', async () => {
      const repo = await meta.ensureRepository('push/state');
      const other = await meta.ensureRepository('push/other');
      await meta.linkBlob(repo.id, { digest: d('state-layer'), size: 5 });
      await meta.linkBlob(other.id, { digest: d('other-layer'), size: 5 });
      await meta.linkBlob(repo.id, { digest: d('bad-layer'), size: 5 });
      await meta.quarantineBlob(d('bad-layer'), 'corrupt', 10);
      await meta.putManifest(bareManifest(repo.id, d('state-m1')), 'v1', 10);
      await meta.putManifest(bareManifest(other.id, d('state-m2')), 'v1', 10);
      const references = { blobs: [d('state-layer'), d('other-layer'), d('bad-layer')], manifests: [d('state-m1'), d('state-m2')] };
      expect(await meta.pushState(repo.id, d('state-m1'), 'v1', references)).toEqual({
        held: true,
        tagged: d('state-m1'),
        missingBlobs: [d('other-layer'), d('bad-layer')],
        missingManifests: [d('state-m2')],
      });
      expect(await meta.pushState(repo.id, d('state-m2'), 'v2', { blobs: [], manifests: [] })).toEqual({ held: false, tagged: undefined, missingBlobs: [], missingManifests: [] });
      expect(await meta.pushState(other.id, d('state-m1'), undefined, { blobs: [d('other-layer')], manifests: [] })).toEqual({ held: false, tagged: undefined, missingBlobs: [], missingManifests: [] });
      // Past one query's list: the rest are asked about as missingBlobs does.
      const many = Array.from({ length: 1100 }, (_, i) => d(`state-many-${i}`));
      for (const digest of many.filter((_, i) => i % 4 === 0)) await meta.linkBlob(repo.id, { digest, size: 1 });
      const state = await meta.pushState(repo.id, d('state-m3'), 'v1', { blobs: many, manifests: [d('state-m1')] });
      expect(state).toEqual({ held: false, tagged: d('state-m1'), missingBlobs: many.filter((_, i) => i % 4 !== 0), missingManifests: [] });
    });

    it('pins with the check only a push that will write the content', async () => {
      const repo = await meta.ensureRepository('push/pinned');
      await meta.linkBlob(repo.id, { digest: d('pinned-layer'), size: 5 });
      await meta.putManifest(bareManifest(repo.id, d('pinned-m1')), 'v1', 10);
      const pin = { token: 'push-token', until: Date.now() + 60_000 };
      const references = { blobs: [d('pinned-layer')], manifests: [] };
      // New content, nothing missing: pinned, and the stored copy (none yet) is not quarantined.
      expect(await meta.pushState(repo.id, d('pinned-m2'), 'v2', references, pin)).toEqual({
        held: false,
        tagged: undefined,
        missingBlobs: [],
        missingManifests: [],
        pinned: { quarantined: false },
      });
      // A quarantined stored copy is reported, for the push to replace it.
      await meta.linkBlob(repo.id, { digest: d('pinned-m3'), size: 1 });
      await meta.quarantineBlob(d('pinned-m3'), 'corrupt', 10);
      expect((await meta.pushState(repo.id, d('pinned-m3'), undefined, references, pin)).pinned).toEqual({ quarantined: true });
      // Held, a reference missing, or no pin asked for: nothing is written, nothing pinned.
      expect(await meta.pushState(repo.id, d('pinned-m1'), 'v1', references, pin)).toEqual({ held: true, tagged: d('pinned-m1'), missingBlobs: [], missingManifests: [] });
      expect(await meta.pushState(repo.id, d('pinned-m4'), 'v1', { blobs: [d('pinned-absent')], manifests: [] }, pin)).toEqual({
        held: false,
        tagged: d('pinned-m1'),
        missingBlobs: [d('pinned-absent')],
        missingManifests: [],
      });
      expect((await meta.pushState(repo.id, d('pinned-m5'), undefined, references)).pinned).toBeUndefined();
      // The push records the content under the same token, which removes the pin with the record.
      await meta.putManifest({ ...bareManifest(repo.id, d('pinned-m2')), references: [{ digest: d('pinned-layer'), kind: 'blob' }] }, 'v2', 20, [], { pin: pin.token });
      expect((await meta.getTaggedManifest(repo.id, 'v2'))?.digest).toBe(d('pinned-m2'));
    });

    it('tracks an upload offset with compare-and-set', async () => {
      const repo = await meta.ensureRepository('uploads/a');
      await meta.createUpload({ id: 'u1', repositoryId: repo.id, offset: 0, startedAt: 1, updatedAt: 1 });
      expect(await meta.advanceUpload('u1', 0, 100, 2)).toBe(true);
      expect(await meta.advanceUpload('u1', 0, 50, 3)).toBe(false);
      expect(await meta.getUpload('u1')).toEqual({ id: 'u1', repositoryId: repo.id, offset: 100, startedAt: 1, updatedAt: 2 });
      expect((await meta.staleUploads(3, 10)).map((u) => u.id)).toContain('u1');
      expect((await meta.staleUploads(2, 10)).map((u) => u.id)).not.toContain('u1');
      await meta.completeUpload('u1', repo.id, { digest: d('uploaded'), size: 100 });
      expect(await meta.getUpload('u1')).toBeUndefined();
      expect(await meta.getRepositoryBlob(repo.id, d('uploaded'))).toEqual({ digest: d('uploaded'), size: 100 });
      expect(await meta.deleteUpload('u1')).toBe(false);
    });

    it('records manifests with tags, references and referrers, and deletes them', async () => {
      const repo = await meta.ensureRepository('manifests/a');
      await meta.linkBlob(repo.id, { digest: d('config'), size: 10 });
      const base = {
        repositoryId: repo.id,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        configDigest: d('config'),
        references: [{ digest: d('config'), kind: 'blob' as const }],
      };
      await meta.putManifest({ ...base, digest: d('m1'), artifactType: null, subjectDigest: null, size: 100, annotations: null }, 'v1', 1000);
      await meta.putManifest(
        { ...base, digest: d('sig'), artifactType: 'application/x-sig', subjectDigest: d('m1'), size: 50, annotations: { a: 'b' } },
        undefined,
        1001,
      );
      await meta.putManifest(
        { ...base, digest: d('sbom'), artifactType: 'application/spdx+json', subjectDigest: d('m1'), size: 60, annotations: null },
        undefined,
        1002,
      );

      expect((await meta.getTaggedManifest(repo.id, 'v1'))?.digest).toBe(d('m1'));
      expect((await meta.getManifest(repo.id, d('sig')))?.annotations).toEqual({ a: 'b' });
      expect((await meta.listReferrers(repo.id, d('m1'))).map((m) => m.digest)).toEqual([d('sig'), d('sbom')]);
      expect((await meta.listReferrers(repo.id, d('m1'), 'application/spdx+json')).map((m) => m.digest)).toEqual([d('sbom')]);
      expect(await meta.missingManifests(repo.id, [d('m1'), d('nope')])).toEqual([d('nope')]);

      // Last writer wins for a tag.
      await meta.putManifest({ ...base, digest: d('m2'), artifactType: null, subjectDigest: null, size: 120, annotations: null }, 'v1', 1003);
      expect((await meta.getTaggedManifest(repo.id, 'v1'))?.digest).toBe(d('m2'));
      await meta.putManifest({ ...base, digest: d('m2'), artifactType: null, subjectDigest: null, size: 120, annotations: null }, 'v2', 1004);
      expect((await meta.tagsOf(repo.id, d('m2'))).map((t) => t.name)).toEqual(['v1', 'v2']);
      expect(await meta.listTags(repo.id, { limit: 10 })).toEqual(['v1', 'v2']);
      expect(await meta.listTags(repo.id, { limit: 10, last: 'v1' })).toEqual(['v2']);

      expect(await meta.deleteTag(repo.id, 'v2')).toBe(true);
      expect(await meta.deleteTag(repo.id, 'v2')).toBe(false);
      expect(await meta.deleteManifest(repo.id, d('m2'))).toBe(true);
      expect(await meta.getTaggedManifest(repo.id, 'v1')).toBeUndefined();
      expect(await meta.listTags(repo.id, { limit: 10 })).toEqual([]);
      expect(await meta.deleteManifest(repo.id, d('m2'))).toBe(false);
    });

    it('reads every tag with its digest and push time, and orders artifacts by the semver of their tags', async () => {
      const repo = await meta.ensureRepository('manifests/semver');
      await meta.linkBlob(repo.id, { digest: d('config'), size: 10 });
      const manifest = (name: string) => ({
        repositoryId: repo.id,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        configDigest: d('config'),
        references: [{ digest: d('config'), kind: 'blob' as const }],
        digest: d(`semver-${name}`),
        artifactType: null,
        subjectDigest: null,
        size: 100,
        annotations: null,
      });
      await meta.putManifest(manifest('a'), '1.2.10', 2000);
      await meta.putManifest(manifest('b'), '1.10.0', 2001);
      await meta.putManifest(manifest('c'), 'latest', 2002);
      await meta.putManifest(manifest('a'), 'v1.2.3', 2003);
      await meta.putManifest(manifest('untagged'), undefined, 2004);
      await meta.putManifest(manifest('d'), '2.0.0-rc.1', 1999);
      expect(await meta.allTags(repo.id)).toEqual([
        { name: '1.10.0', digest: d('semver-b'), updatedAt: 2001 },
        { name: '1.2.10', digest: d('semver-a'), updatedAt: 2000 },
        { name: '2.0.0-rc.1', digest: d('semver-d'), updatedAt: 1999 },
        { name: 'latest', digest: d('semver-c'), updatedAt: 2002 },
        { name: 'v1.2.3', digest: d('semver-a'), updatedAt: 2003 },
      ]);
      const order = ['d', 'b', 'a', 'untagged', 'c'].map((n) => d(`semver-${n}`));
      const all = await meta.listArtifacts(repo.id, { offset: 0, limit: 10, order: 'semver' });
      expect(all.items.map((a) => a.digest)).toEqual(order);
      expect(all.items[2]!.tags).toEqual(['1.2.10', 'v1.2.3']);
      expect(all.total).toBe(5);
      expect((await meta.listArtifacts(repo.id, { offset: 1, limit: 2, order: 'semver' })).items.map((a) => a.digest)).toEqual(order.slice(1, 3));
      const tagged = await meta.listArtifacts(repo.id, { offset: 0, limit: 10, order: 'semver', taggedOnly: true });
      expect(tagged).toMatchObject({ total: 4 });
      expect(tagged.items.map((a) => a.digest)).toEqual(order.filter((o) => o !== d('semver-untagged')));
      expect(await meta.allTags((await meta.ensureRepository('manifests/semver-empty')).id)).toEqual([]);
    });

    it('lists top-level artifacts only: no untagged platform manifests, referrers or cosign tags of a listed one', async () => {
      const repo = await meta.ensureRepository('manifests/grouped');
      const put = (name: string, tag: string | undefined, at: number, extra: Partial<NewManifest> = {}) =>
        meta.putManifest({ ...bareManifest(repo.id, d(`grouped-${name}`)), ...extra }, tag, at);
      await put('amd64', undefined, 3000);
      await put('arm64', 'arm64', 3001);
      await put('index', 'v1', 3002, {
        mediaType: 'application/vnd.oci.image.index.v1+json',
        references: [
          { digest: d('grouped-amd64'), kind: 'manifest' },
          { digest: d('grouped-arm64'), kind: 'manifest' },
        ],
      });
      await put('sbom', undefined, 3003, { artifactType: 'application/spdx+json', subjectDigest: d('grouped-index') });
      await put('sig', `sha256-${d('grouped-index').slice(7)}.sig`, 3004);
      await put('stray-sig', `sha256-${d('not-here').slice(7)}.sig`, 3005);
      for (const order of ['pushed', 'semver'] as const) {
        const listed = await meta.listArtifacts(repo.id, { offset: 0, limit: 10, order });
        expect(listed.total).toBe(3);
        expect(listed.items.map((a) => a.digest).sort()).toEqual([d('grouped-arm64'), d('grouped-index'), d('grouped-stray-sig')].sort());
      }
      expect(await meta.listArtifacts(repo.id, { offset: 1, limit: 1 })).toMatchObject({ total: 3, items: [{ digest: d('grouped-index') }] });
      const referrers = await meta.groupedReferrers(repo.id, [d('grouped-index'), d('grouped-arm64')]);
      expect(referrers.map((r) => [r.subject, r.manifest.digest, r.cosignTag])).toEqual([
        [d('grouped-index'), d('grouped-sbom'), undefined],
        [d('grouped-index'), d('grouped-sig'), `sha256-${d('grouped-index').slice(7)}.sig`],
      ]);
      expect((await meta.referencesOf(repo.id, [d('grouped-index')])).map((r) => [r.parent, r.digest, r.kind]).sort()).toEqual(
        [
          [d('grouped-index'), d('grouped-amd64'), 'manifest'],
          [d('grouped-index'), d('grouped-arm64'), 'manifest'],
        ].sort(),
      );
    });

    it('counts pulls, one write per manifest and batch, and keeps the latest pull time', async () => {
      const repo = await meta.ensureRepository('manifests/pulled');
      await meta.putManifest(bareManifest(repo.id, d('pulled-a')), 'v1', 4000);
      const pull = (at: number) => ({ repository: 'manifests/pulled', digest: d('pulled-a'), at });
      await meta.recordPulls([pull(5000), pull(5002), pull(5001)]);
      expect(await meta.getManifest(repo.id, d('pulled-a'))).toMatchObject({ pullCount: 3, pulledAt: 5002 });
      // An older batch (another instance's, late) still counts, but does not move the time back.
      await meta.recordPulls([pull(4500), { repository: 'manifests/absent', digest: d('pulled-a'), at: 6000 }]);
      expect(await meta.getManifest(repo.id, d('pulled-a'))).toMatchObject({ pullCount: 4, pulledAt: 5002 });
    });

    it('changes a repository\'s tag version with every tag change, and only then', async () => {
      const repo = await meta.ensureRepository('manifests/versioned');
      const version = async () => (await meta.getRepository('manifests/versioned'))!.tagVersion;
      const manifest = (name: string) => bareManifest(repo.id, d(name));
      const seen = [await version()];
      await meta.putManifest(manifest('untagged'), undefined, 1);
      seen.push(await version());
      await meta.putManifest(manifest('a'), 'one', 2);
      seen.push(await version());
      await meta.putManifest(manifest('b'), 'one', 3);
      seen.push(await version());
      await meta.deleteTag(repo.id, 'absent');
      seen.push(await version());
      await meta.deleteTag(repo.id, 'one');
      seen.push(await version());
      await meta.putManifest(manifest('b'), 'two', 4);
      seen.push(await version());
      await meta.deleteManifest(repo.id, d('untagged'));
      seen.push(await version());
      await meta.deleteManifest(repo.id, d('b'));
      seen.push(await version());
      // Changes: tag created, tag moved, tag deleted, tag created, manifest with a tag deleted.
      expect(seen.map((v) => v - seen[0]!)).toEqual([0, 0, 1, 2, 2, 3, 4, 4, 5]);
    });

    it('keeps one tag row under concurrent writers', async () => {
      const repo = await meta.ensureRepository('manifests/race');
      const digests = Array.from({ length: 20 }, (_, i) => d(`race-${i}`));
      await Promise.all(
        digests.map((digest, i) =>
          meta.putManifest(
            bareManifest(repo.id, digest),
            'latest',
            2000 + i,
          ),
        ),
      );
      expect(await meta.listTags(repo.id, { limit: 10 })).toEqual(['latest']);
      expect(digests).toContain((await meta.getTaggedManifest(repo.id, 'latest'))?.digest);
    });

    it('writes events in the same transaction as their change, and none when it rolls back', async () => {
      const events = harness.events(meta);
      const before = (await events.positions('contract')).newest;
      const repo = await meta.ensureRepository('events/a');
      const push = (digest: Digest, repositoryId: number) => bareManifest(repositoryId, digest);
      const event = (tag: string) => ({ type: 'push' as const, project: 'events', repository: 'events/a', data: { operator: 'contract', repository: 'events/a', tag } });
      await meta.putManifest(push(d('ev-1'), repo.id), 'v1', 3000, [event('v1')]);
      // A repository that does not exist: the foreign key fails and the whole transaction rolls back.
      await expect(meta.putManifest(push(d('ev-2'), 987_654), 'v2', 3001, [event('v2')])).rejects.toThrow();
      expect(await meta.getBlob(d('ev-2'))).toBeUndefined();
      const after = await events.positions('contract');
      expect(after.newest - before).toBe(1);
      expect((await events.get(after.newest))?.data).toEqual({ operator: 'contract', repository: 'events/a', tag: 'v1' });
      expect(await meta.deleteTag(repo.id, 'nope', [event('gone')])).toBe(false);
      expect((await events.positions('contract')).newest).toBe(after.newest);
    });

    it('answers a ping', async () => {
      await expect(meta.ping()).resolves.toBeUndefined();
    });
  });
}
