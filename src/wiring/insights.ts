import type { Logger } from 'pino';
import type { Database } from '../adapters/db/connect.js';
import { KyselyBaseImageStore } from '../adapters/db/kysely-base-image-store.js';
import { KyselyImageIndexStore } from '../adapters/db/kysely-image-index-store.js';
import { KyselyPolicyStore } from '../adapters/db/kysely-policy-store.js';
import type { ResolvedConfig } from '../config/load.js';
import { BerthError } from '../domain/errors.js';
import { LruCache } from '../domain/lru-cache.js';
import type { EventStore, OutboxEvent } from '../ports/event-store.js';
import type { ImageIndexRecord, ImageIndexStore } from '../ports/image-index-store.js';
import type { ManifestContent, Registry } from '../services/registry/index.js';
import type { JobRunner } from '../services/jobs/job-runner.js';
import type { Scheduler } from '../services/jobs/scheduler.js';
import { ImageIndexer, indexFormat, recordsOf } from '../services/insights/image-indexer.js';
import { ImageInsightsService } from '../services/insights/image-insights-service.js';
import { LayerReader } from '../services/insights/layer-reader.js';
import { LintService } from '../services/insights/lint-service.js';
import type { Inventory } from '../services/security/inventory.js';

export interface InsightsDependencies {
  registry: Registry;
  runner: JobRunner;
  scheduler: Scheduler;
  /** Where their events go (the server queues them and writes them in batches). */
  events: Pick<EventStore, 'append'>;
  onEvents: () => void;
  logger: Logger;
}

/**
 * Insights (docs/insights.md): best-practice lint of images, with per-project disabled rules,
 * each image's layers, wasted space and base, and the image index that search, file trees,
 * stored lint and rebuild hints read.
 */
export interface Insights {
  lint: LintService;
  images: ImageInsightsService;
  /** The one walk per layer digest, shared with the scanner's inventory (wireSecurity takes it). */
  layers: LayerReader;
  index: ImageIndexStore;
  /** Fills the index (absent when insights.index.enabled is false). */
  indexer?: ImageIndexer;
  /** Indexes a pushed manifest and records its `lint` events (insights.index.enabled; else nothing). */
  indexPushed: (repository: string, digest: string) => Promise<void>;
  /** The inventory the index stored for an image, for the scanner. */
  storedInventory: (digest: string) => Promise<Inventory | undefined>;
  /** The content of a manifest indexPushed just read, for the scan of the same job (taken once). */
  pushedManifest: (repository: string, digest: string) => ManifestContent | undefined;
}

/** Images the backfill indexes per job (it queues the next batch as its last act). */
const backfillBatch = 100;

export async function wireInsights(database: Database, config: ResolvedConfig, deps: InsightsDependencies): Promise<Insights> {
  const settings = config.insights.index;
  const index = new KyselyImageIndexStore(database);
  // One reader of layers: the inventory, lint, the image insights and the index read each layer once between them.
  // Layers are read without restarting their grace periods: no client was promised anything.
  const layers: LayerReader = new LayerReader(
    { blobs: { open: (repository, digest) => deps.registry.blobs.openQuietly(repository, digest) } },
    { cacheBytes: settings.cacheBytes, limits: { maxEntries: settings.maxLayerEntries }, onWalked: settings.enabled ? (walked): Promise<void> => indexer!.layerWalked(walked) : undefined },
  );
  // The reader's hook calls it only once layers are read, after this line.
  const indexer: ImageIndexer | undefined = settings.enabled ? new ImageIndexer(deps.registry, index, layers, { concurrency: settings.concurrency, maxEntriesPerLayer: settings.maxEntriesPerLayer }) : undefined;

  // What a push's job just indexed, for its scan that follows at once: one read of the record
  // and its rows fewer per push. Null: the record holds no inventory for the scanner (a layer
  // that is no tar, say), which walks the layers itself. A digest's inventory never changes
  // within a format, so an entry is right whenever it is taken; each is taken once, and a few
  // at most wait (scanning off).
  const justIndexed = new LruCache<string, Inventory | null>(justIndexedMax);
  // The manifest a push's job just read to index it, for its scan that follows at once: one
  // read of the manifest's row (and the repository's) fewer per push. A manifest deleted in
  // between is scanned all the same, as it would be had the delete come a moment later.
  const justRead = new LruCache<string, { repository: string; manifest: ManifestContent }>(justIndexedMax);
  const indexPushed = async (repository: string, digest: string): Promise<void> => {
    if (!indexer) return;
    const manifest = deps.registry.manifests.takePushed(repository, digest) ?? (await deps.registry.manifests.get(repository, digest));
    justRead.delete(digest);
    if (manifest.size <= justReadMaxBytes) justRead.set(digest, { repository, manifest });
    const records = recordsOf(await indexer.index(repository, digest, manifest));
    for (const record of records) justIndexed.set(record.digest, inventoryOf(record) ?? null);
    const project = repository.split('/', 1)[0]!;
    const events: OutboxEvent[] = records
      .filter((record) => record.lint || record.status === 'failed')
      .map((record) => ({
        type: 'lint',
        project,
        repository,
        data: {
          operator: 'indexer',
          repository,
          digest: record.digest,
          details: record.lint
            ? { status: 'succeeded', summary: record.lint.summary, findings: record.lint.findings.length, rules: [...new Set(record.lint.findings.map((f) => f.rule))] }
            : { status: 'failed', error: record.error },
        },
      }));
    if (events.length === 0) return;
    await deps.events.append(events, Date.now()).then(deps.onEvents, (err: unknown) => deps.logger.warn({ err }, 'recording the lint event failed'));
  };

  deps.runner.register('index.backfill', {
    maxAttempts: 1,
    backoff: () => 0,
    // Images pushed before the index: they wait while requests keep the process saturated.
    background: true,
    run: async () => {
      if (!indexer) return;
      const due = await index.unindexed(backfillBatch, indexFormat);
      for (const { repository, digest } of due) {
        try {
          await indexer.index(repository, digest);
        } catch (err) {
          // Deleted since it was listed: the next batch no longer lists it. Anything else stops this batch, and the next scheduled run retries.
          if (!(err instanceof BerthError && ['MANIFEST_UNKNOWN', 'NAME_UNKNOWN', 'MANIFEST_INVALID'].includes(err.key))) throw err;
        }
      }
      // More to do (a registry upgraded from a version without the index): the next batch now.
      if (due.length === backfillBatch) await deps.runner.enqueue({ type: 'index.backfill', payload: {}, maxAttempts: 1 });
    },
  });
  deps.runner.register('index.prune', {
    maxAttempts: 1,
    backoff: () => 0,
    run: async () => {
      const pruned = await index.prune();
      deps.logger.info({ pruned }, 'image index pruned');
    },
  });
  // Schedules, not loops: an idle registry's scheduler reads its due schedules anyway, these add no reads.
  if (settings.enabled) {
    await deps.scheduler.define({ name: 'index.backfill', cron: '47 * * * *', jobType: 'index.backfill', maxAttempts: 1 });
    await deps.scheduler.define({ name: 'index.prune', cron: '17 4 * * *', jobType: 'index.prune', maxAttempts: 1 });
  } else {
    await deps.scheduler.remove('index.backfill');
    await deps.scheduler.remove('index.prune');
  }

  return {
    lint: new LintService(deps.registry, new KyselyPolicyStore(database), { layers, index }),
    images: new ImageInsightsService(deps.registry, layers, new KyselyBaseImageStore(database)),
    layers,
    index,
    indexer,
    indexPushed,
    pushedManifest: (repository, digest) => {
      const read = justRead.get(digest);
      if (read?.repository !== repository) return undefined;
      justRead.delete(digest);
      return read.manifest;
    },
    storedInventory: async (digest) => {
      const fresh = justIndexed.get(digest);
      if (fresh !== undefined) {
        justIndexed.delete(digest);
        return fresh ?? undefined;
      }
      const record = await index.getImage(digest);
      return record ? inventoryOf(record) : undefined;
    },
  };
}

/** Inventories of just-indexed images kept for their scans (scanning off, they would pile up). */
const justIndexedMax = 32;
/** Larger manifests (rare: an image's is a few KiB) are read again by their scan rather than held here. */
const justReadMaxBytes = 256 * 1024;

/** The inventory a record holds for the scanner, unless the scan must walk the layers itself. */
function inventoryOf(record: ImageIndexRecord): Inventory | undefined {
  // A record of an older format may lack packages a newer detector finds: the scan walks the layers instead.
  if (record.status !== 'indexed' || record.layers.length === 0 || (record.format ?? 0) < indexFormat) return undefined;
  return record.os ? { os: record.os, packages: record.packages } : { packages: record.packages };
}
