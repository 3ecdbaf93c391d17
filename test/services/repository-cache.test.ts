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
});
