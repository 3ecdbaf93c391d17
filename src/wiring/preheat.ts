import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import type { Database } from '../adapters/db/connect.js';
import { KyselyPreheatStore } from '../adapters/db/kysely-preheat-store.js';
import { DragonflyClient } from '../adapters/preheat/dragonfly-client.js';
import { BerthError } from '../domain/errors.js';
import type { Metrics } from '../http/metrics.js';
import type { IdentityStore } from '../ports/identity-store.js';
import { blockedByPolicy, type Outbound } from '../ports/outbound.js';
import type { SecretBox } from '../ports/secrets.js';
import type { RobotService } from '../services/identity/robot-service.js';
import type { JobRunner } from '../services/jobs/job-runner.js';
import type { Scheduler } from '../services/jobs/scheduler.js';
import { PreheatService } from '../services/preheat/preheat-service.js';
import { PreheatTriggers } from '../services/preheat/preheat-triggers.js';
import type { Registry } from '../services/registry/index.js';
import { LocalRegistry } from '../services/replication/local-registry.js';

export interface PreheatDependencies {
  outbound: Outbound;
  box: SecretBox;
  logger: Logger;
  registry: Registry;
  identity: IdentityStore;
  robots: RobotService;
  runner: JobRunner;
  scheduler: Scheduler;
  metrics: Metrics;
  /** The registry's address as a provider reaches it: server.publicUrl, else where this instance listens. */
  registryUrl: () => string;
}

/** P2P preheat (docs/preheat.md): providers, policies, executions, their job, schedules and event triggers. */
export interface Preheat {
  service: PreheatService;
  triggers: PreheatTriggers;
}

const attempts = 5;

export async function wirePreheat(database: Database, config: ResolvedConfig, deps: PreheatDependencies): Promise<Preheat> {
  const store = new KyselyPreheatStore(database);
  const service = new PreheatService(store, {
    box: deps.box,
    connect: (provider, secret) => new DragonflyClient({ outbound: deps.outbound, url: provider.url, authMode: provider.authMode, username: provider.username, secret, insecure: provider.insecure }),
    checkUrl: async (url) => {
      try {
        await deps.outbound.check('preheat', url);
      } catch (err) {
        const blocked = blockedByPolicy(err);
        if (blocked) throw new BerthError('BAD_REQUEST', { message: `provider url ${blocked.message}` });
        throw err;
      }
    },
    project: (id) => deps.identity.getProjectById(id),
    local: new LocalRegistry(deps.registry, 'preheat'),
    pullCredentials: async (project, name, ttlMs) => {
      const { robot, secret } = await deps.robots.create({ name, description: 'P2P preheat: pull-only, removed when the execution ends', expiresAt: Date.now() + ttlMs, permissions: [{ project: project.name, actions: ['pull'] }] }, project, 'preheat');
      return { username: robot.name, password: secret, revoke: async () => void (await deps.robots.delete(robot.id, project)) };
    },
    registryUrl: deps.registryUrl,
    enqueue: async (execution) => {
      await deps.runner.enqueue({ type: 'preheat.run', payload: { executionId: execution.id }, orderingKey: `preheat:${execution.policyId}`, maxAttempts: attempts });
    },
    onScheduleChange: async (policy, removed) => {
      const name = `preheat:${policy.id}`;
      if (removed || policy.trigger !== 'cron' || !policy.enabled || !policy.cron) await deps.scheduler.remove(name);
      else await deps.scheduler.define({ name, cron: policy.cron, jobType: 'preheat.scheduled', payload: { policyId: policy.id }, maxAttempts: 1 });
    },
    onTaskFinished: (task) => {
      deps.metrics.preheatTasks.inc({ status: task.status });
      if (task.status === 'failed') deps.logger.warn({ preheat: { execution: task.executionId, repository: task.repository, tag: task.tag } }, `preheat failed: ${task.message ?? ''}`);
    },
    pollIntervalMs: config.jobs.pollIntervalMs,
  });
  deps.runner.register('preheat.run', {
    maxAttempts: attempts,
    backoff: () => 5_000,
    run: async (job) => service.execute(Number(job.payload.executionId)),
  });
  deps.runner.register('preheat.scheduled', {
    maxAttempts: 1,
    backoff: () => 0,
    run: async (job) => {
      await service.start(Number(job.payload.policyId), 'cron');
    },
  });
  const triggers = new PreheatTriggers(store, {
    intervalMs: config.jobs.pollIntervalMs,
    maxAttempts: attempts,
    onJobs: () => deps.runner.notify(),
    onError: (err) => deps.logger.warn({ err }, 'starting event-triggered preheats failed; will retry'),
  });
  return { service, triggers };
}
