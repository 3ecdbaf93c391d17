import type { Logger } from 'pino';
import type { Database } from '../adapters/db/connect.js';
import { KyselyImageIndexStore } from '../adapters/db/kysely-image-index-store.js';
import { KyselyRecommendationStore } from '../adapters/db/kysely-recommendation-store.js';
import { KyselyScanStore } from '../adapters/db/kysely-scan-store.js';
import type { ImageIndexStore } from '../ports/image-index-store.js';
import type { ScanStore } from '../ports/scan-store.js';
import type { Authorizer } from '../services/access/authorizer.js';
import { anonymous } from '../services/identity/principal.js';
import { RebuildHints, RebuildTriggers } from '../services/insights/rebuild-hints.js';
import { RecommendationService } from '../services/insights/recommendations.js';
import type { Registry } from '../services/registry/index.js';
import type { JobRunner } from '../services/jobs/job-runner.js';
import type { Scheduler } from '../services/jobs/scheduler.js';

export interface RecommendationDependencies {
  registry: Registry;
  authorizer: Authorizer;
  /** The image index the indexer fills (one instance shared with it), else one of its own. */
  index?: ImageIndexStore;
  /** Events were written (the webhook dispatcher's notice). */
  onEvents: () => void;
  onError: (err: unknown) => void;
  runner: JobRunner;
  scheduler: Scheduler;
  logger: Logger;
  /** Whether images are indexed (insights.index.enabled): without the index, no move is kept. */
  indexing: boolean;
}

/**
 * Recommendations and rebuild hints (docs/insights.md): reads of the image index and scan
 * reports, and one outbox consumer woken by this process's pushes (no timer: idle costs nothing).
 */
export interface Recommendations {
  images: RecommendationService;
  hints: RebuildHints;
  triggers: RebuildTriggers;
  /** What they read (tests fill them; nothing here writes them). */
  index: ImageIndexStore;
  scans: ScanStore;
}

export async function wireRecommendations(database: Database, deps: RecommendationDependencies): Promise<Recommendations> {
  const index = deps.index ?? new KyselyImageIndexStore(database);
  const store = new KyselyRecommendationStore(database);
  const scans = new KyselyScanStore(database);
  const hints = new RebuildHints({
    registry: deps.registry,
    index,
    store,
    scans,
    // A project hears of another project's base only when anyone may pull it (as an anonymous pull is authorized).
    publiclyPullable: async (repository) => (await deps.authorizer.repositoryActions(anonymous, repository)).has('pull'),
    onEvents: deps.onEvents,
  });
  // Kept moves nothing is built on any more go once a day, after the index's own pruning (index.prune at 04:17).
  deps.runner.register('rebuild-hints.prune', {
    maxAttempts: 1,
    backoff: () => 0,
    run: async () => {
      const moves = await hints.pruneMoves();
      deps.logger.info({ moves }, 'rebuild hints pruned');
    },
  });
  if (deps.indexing) await deps.scheduler.define({ name: 'rebuild-hints.prune', cron: '37 4 * * *', jobType: 'rebuild-hints.prune', maxAttempts: 1 });
  else await deps.scheduler.remove('rebuild-hints.prune');
  return {
    images: new RecommendationService({ registry: deps.registry, index, store, access: deps.authorizer, scans }),
    hints,
    triggers: new RebuildTriggers(hints, deps.onError),
    index,
    scans,
  };
}
