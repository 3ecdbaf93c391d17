import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import type { OutboundClient } from '../adapters/outbound/outbound-client.js';
import type { Metrics } from '../http/metrics.js';
import type { IdentityStore } from '../ports/identity-store.js';
import { exponentialBackoff } from '../services/jobs/job-runner.js';
import { WebhookSender } from '../services/webhooks/webhook-sender.js';
import { WebhookService } from '../services/webhooks/webhook-service.js';
import type { Jobs } from './jobs.js';

export interface WebhookDependencies {
  jobs: Jobs;
  identity: IdentityStore;
  outbound: OutboundClient;
  metrics: Metrics;
  logger: Logger;
  /** The registry's host as clients name it (in each event's target). */
  registryHost: () => string;
}

/** Wires webhook deliveries (docs/webhooks.md): each one a job, through the outbound policy. */
export function wireWebhooks(config: ResolvedConfig, deps: WebhookDependencies): WebhookService {
  const { jobs, logger } = deps;
  const sender = new WebhookSender(jobs.webhooks, jobs.events, deps.identity, deps.outbound, {
    timeoutMs: config.webhooks.timeoutMs,
    onBlocked: (webhook, address, reason) => logger.warn({ webhook: { id: webhook.id, project: webhook.projectId }, address }, `webhook delivery ${reason}`),
    registryHost: deps.registryHost,
    onResult: (result) => deps.metrics.webhookDeliveries.inc({ result }),
  });
  jobs.runner.register('webhook.deliver', {
    run: (job) => sender.deliverJob(job),
    maxAttempts: config.webhooks.maxAttempts,
    backoff: exponentialBackoff(config.webhooks.backoffBaseMs, config.webhooks.backoffMaxMs),
  });
  return new WebhookService(jobs.webhooks, sender, deps.outbound);
}
