import type { Database } from '../adapters/db/connect.js';
import { KyselyPolicyStore } from '../adapters/db/kysely-policy-store.js';
import type { Registry } from '../services/registry/index.js';
import { LintService } from '../services/insights/lint-service.js';

export interface InsightsDependencies {
  registry: Registry;
}

/** Insights (docs/insights.md): best-practice lint of images, with per-project disabled rules. Nothing runs in the background. */
export interface Insights {
  lint: LintService;
}

export function wireInsights(database: Database, deps: InsightsDependencies): Insights {
  return { lint: new LintService(deps.registry, new KyselyPolicyStore(database)) };
}
