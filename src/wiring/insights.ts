import type { Database } from '../adapters/db/connect.js';
import { KyselyBaseImageStore } from '../adapters/db/kysely-base-image-store.js';
import { KyselyPolicyStore } from '../adapters/db/kysely-policy-store.js';
import type { ResolvedConfig } from '../config/load.js';
import type { Registry } from '../services/registry/index.js';
import { ImageInsightsService } from '../services/insights/image-insights-service.js';
import { LayerReader } from '../services/insights/layer-reader.js';
import { LintService } from '../services/insights/lint-service.js';

export interface InsightsDependencies {
  registry: Registry;
}

/** Insights (docs/insights.md): best-practice lint of images, with per-project disabled rules, and each image's layers, wasted space and base. */
export interface Insights {
  lint: LintService;
  images: ImageInsightsService;
  /** The one walk per layer digest, shared with the scanner's inventory (wireSecurity takes it). */
  layers: LayerReader;
}

export function wireInsights(database: Database, config: ResolvedConfig, deps: InsightsDependencies): Insights {
  // One reader of layers: lint, the image insights and the inventory read each layer once between them.
  // Insights read layers without restarting their grace periods: no client was promised anything.
  const layers = new LayerReader({ blobs: { open: (repository, digest) => deps.registry.blobs.openQuietly(repository, digest) } }, { cacheBytes: config.insights.index.cacheBytes });
  return {
    lint: new LintService(deps.registry, new KyselyPolicyStore(database), { layers }),
    images: new ImageInsightsService(deps.registry, layers, new KyselyBaseImageStore(database)),
    layers,
  };
}
