import { describe, expect, it } from 'vitest';
import type { RepositoryRow } from '../../src/ports/metadata-store.js';
import { RepositoryCache } from '../../src/services/registry/repository-cache.js';

const row = (id: number, name: string, tagVersion = 0): RepositoryRow => ({ id, name, createdAt: 0, tagVersion });

describe('RepositoryCache', () => {
  it('reads a row once, serves it until its repository changes, then reads it again', async () => {
    const cache = new RepositoryCache({ ttlMs: 60_000 });
    let version = 0;
    let loads = 0;
    const load = async () => {
      loads++;
      return row(7, 'team/app', version);
    };
    expect((await cache.get('team/app', load))!.tagVersion).toBe(0);
    expect((await cache.get('team/app', load))!.tagVersion).toBe(0);
    expect(loads).toBe(1);
    version = 1;
    cache.forget(8); // another repository: this row stays
    expect((await cache.get('team/app', load))!.tagVersion).toBe(0);
    cache.forget(7);
    expect((await cache.get('team/app', load))!.tagVersion).toBe(1);
    expect(loads).toBe(2);
  });

  it('never keeps a row read while a change was announced', async () => {
    const cache = new RepositoryCache({ ttlMs: 60_000 });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // A pull reads the old row; the push that changes it commits and announces before the read returns.
    const slow = cache.get('team/app', async () => {
      await gate;
      return row(7, 'team/app', 0);
    });
    cache.forget(7);
    release();
    expect((await slow)!.tagVersion).toBe(0);
    expect((await cache.get('team/app', async () => row(7, 'team/app', 1)))!.tagVersion).toBe(1);
  });

  it('keeps a row read while other repositories changed, and not one read across a forgotten change', async () => {
    const cache = new RepositoryCache({ ttlMs: 60_000 });
    let loads = 0;
    const during = (changes: () => void, id = 7) => async () => {
      loads++;
      changes();
      return row(id, 'team/app', loads);
    };
    // A burst of pushes to other repositories while the row is read: it is kept.
    await cache.get('team/app', during(() => [1, 2, 3].forEach((id) => cache.forget(id))));
    await cache.get('team/app', during(() => undefined));
    expect(loads).toBe(1);
    // Its own repository changed while it was read: not kept.
    cache.forget(7);
    await cache.get('team/app', during(() => cache.forget(7)));
    await cache.get('team/app', during(() => undefined));
    expect(loads).toBe(3);
    // 4,097 other repositories changed while it was read: the change of the first is no longer
    // remembered, so the read might have crossed a change of its own and is not kept.
    cache.forget(7);
    await cache.get('team/other', during(() => Array.from({ length: 4097 }, (_, i) => cache.forget(1000 + i)), 8));
    await cache.get('team/other', during(() => undefined, 8));
    expect(loads).toBe(5);
    expect((await cache.get('team/other', during(() => undefined, 8)))!.tagVersion).toBe(5);
  });

  it('does not keep unknown names, expires rows after the TTL, and reads through while untrusted', async () => {
    let now = 0;
    let trusted = true;
    const cache = new RepositoryCache({ ttlMs: 5000, now: () => now, trusted: () => trusted });
    let loads = 0;
    const missing = async () => {
      loads++;
      return undefined;
    };
    await cache.get('team/new', missing);
    await cache.get('team/new', missing);
    expect(loads).toBe(2);

    let version = 0;
    const load = async () => {
      loads++;
      return row(1, 'team/app', version);
    };
    loads = 0;
    await cache.get('team/app', load);
    version = 1;
    now = 4999;
    expect((await cache.get('team/app', load))!.tagVersion).toBe(0);
    now = 5000;
    expect((await cache.get('team/app', load))!.tagVersion).toBe(1);
    expect(loads).toBe(2);
    trusted = false;
    await cache.get('team/app', load);
    await cache.get('team/app', load);
    expect(loads).toBe(4);
  });

  it('keeps at most maxEntries rows, dropping the oldest, and clear() drops all', async () => {
    const cache = new RepositoryCache({ ttlMs: 60_000, maxEntries: 2 });
    for (const [id, name] of [[1, 'a/x'], [2, 'b/x'], [3, 'c/x']] as const) await cache.get(name, async () => row(id, name));
    expect(cache.size).toBe(2);
    let loads = 0;
    await cache.get('a/x', async () => (loads++, row(1, 'a/x')));
    expect(loads).toBe(1);
    // A repository deleted and made again under its name gets a new id; the old id no longer names it.
    cache.forget(1);
    await cache.get('a/x', async () => row(9, 'a/x'));
    cache.forget(1);
    expect((await cache.get('a/x', async () => row(10, 'a/x')))!.id).toBe(9);
    cache.clear();
    expect(cache.size).toBe(0);
  });

  it("remembers each name's last id across tag changes, reads that overlapped them, untrusted reads and clear()", async () => {
    let trusted = true;
    const cache = new RepositoryCache({ ttlMs: 60_000, maxEntries: 2, trusted: () => trusted });
    expect(cache.lastId('team/app')).toBeUndefined();
    await cache.get('team/none', async () => undefined);
    expect(cache.lastId('team/none')).toBeUndefined();
    await cache.get('team/app', async () => row(7, 'team/app'));
    cache.forget(7);
    expect(cache.lastId('team/app')).toBe(7);
    // A read across a change keeps no row, but the id it read.
    await cache.get('team/app', async () => {
      cache.forget(7);
      return row(7, 'team/app', 1);
    });
    expect(cache.size).toBe(0);
    expect(cache.lastId('team/app')).toBe(7);
    // Deleted and made anew: the next read names the new id.
    trusted = false;
    await cache.get('team/app', async () => row(9, 'team/app'));
    expect(cache.lastId('team/app')).toBe(9);
    cache.clear();
    expect(cache.lastId('team/app')).toBe(9);
    // At most maxEntries names, the oldest dropped.
    await cache.get('team/b', async () => row(10, 'team/b'));
    await cache.get('team/c', async () => row(11, 'team/c'));
    expect([cache.lastId('team/app'), cache.lastId('team/b'), cache.lastId('team/c')]).toEqual([undefined, 10, 11]);
  });
});
