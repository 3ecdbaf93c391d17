import type { Database } from '../adapters/db/connect.js';
import { KyselyBaseImageStore } from '../adapters/db/kysely-base-image-store.js';
import { KyselyPolicyStore } from '../adapters/db/kysely-policy-store.js';
import type { Registry } from '../services/registry/index.js';
import { ImageInsightsService } from '../services/insights/image-insights-service.js';
import { LayerSummaries } from '../services/insights/layer-summaries.js';
import { LintService } from '../services/insights/lint-service.js';

export interface InsightsDependencies {
  registry: Registry;
}

/** Insights (docs/insights.md): best-practice lint of images, with per-project disabled rules, and each image's layers, wasted space and base. Nothing runs in the background. */
export interface Insights {
  lint: LintService;
  images: ImageInsightsService;
}

export function wireInsights(database: Database, deps: InsightsDependencies): Insights {
  // One cache of layer summaries: lint and the image insights read each layer once between them.
  // Insights read layers without restarting their grace periods: no client was promised anything.
  const summaries = new LayerSummaries({ blobs: { open: (repository, digest) => deps.registry.blobs.openQuietly(repository, digest) } });
  return {
    lint: new LintService(deps.registry, new KyselyPolicyStore(database), { summaries }),
    images: new ImageInsightsService(deps.registry, summaries, new KyselyBaseImageStore(database)),
  };
}
