import { z } from 'zod';
import { BerthError } from '../../domain/errors.js';
import type { ScrubRunRow } from '../../ports/scrub-store.js';
import { listOf, route, type AnyRoute } from './api-route.js';
import type { ApiServices } from './services.js';

const time = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const pageQuery = z.object({ page: z.coerce.number().int().min(1).default(1), page_size: z.coerce.number().int().min(1).max(100).default(20) });

const scrubRunSchema = z.object({
  id: z.number().int(),
  status: z.enum(['queued', 'running', 'succeeded', 'failed', 'interrupted']),
  triggeredBy: z.string(),
  resumedFrom: z.number().int().nullable().describe('The run that stopped midway and this one continued, after the last digest it checked'),
  objectsChecked: z.number().int().describe('Blobs and manifests read back and verified'),
  bytesChecked: z.number().int(),
  corrupt: z.number().int().describe('Objects whose stored bytes do not match their digest or size'),
  missing: z.number().int().describe('Objects whose stored bytes are gone'),
  released: z.number().int().describe('Quarantined objects found intact again, and released'),
  error: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});

const dependentSchema = z.object({ repository: z.string(), digest: z.string(), tags: z.array(z.string()) });
const problemSchema = z.object({
  digest: z.string(),
  size: z.number().int(),
  kind: z.enum(['corrupt', 'missing']),
  dependents: z.array(dependentSchema).describe('Manifests that need the object (itself, or one that lists it, or an index of those), with their tags'),
});

function runView(run: ScrubRunRow): z.infer<typeof scrubRunSchema> {
  return {
    id: run.id,
    status: run.status,
    triggeredBy: run.triggeredBy,
    resumedFrom: run.resumedFrom,
    objectsChecked: run.objectsChecked,
    bytesChecked: run.bytesChecked,
    corrupt: run.corrupt,
    missing: run.missing,
    released: run.released,
    error: run.error,
    createdAt: time(run.createdAt)!,
    startedAt: time(run.startedAt),
    finishedAt: time(run.finishedAt),
  };
}

const by = (principal: { kind: string; name?: string }) => (principal.kind === 'anonymous' ? 'anonymous' : (principal.name ?? principal.kind));

/** Scrub on demand, its history and what is quarantined (docs/lifecycle.md, "Scrub"). */
export function scrubRoutes(s: ApiServices): AnyRoute[] {
  return [
    route({
      method: 'POST',
      path: '/system/scrub',
      summary: 'Start a scrub: read back and verify every stored blob and manifest; one at a time across instances',
      tag: 'lifecycle',
      auth: 'admin',
      body: z.strictObject({}).prefault({}),
      response: scrubRunSchema,
      status: 201,
      audit: { action: 'scrub.start', resourceType: 'system', resource: (_i, run) => (run ? `scrub run ${run.id}` : 'scrub') },
      handler: async ({ principal }) => runView(await s.lifecycle.requestScrub(by(principal))),
    }),
    route({
      method: 'GET',
      path: '/system/scrub',
      summary: 'Scrub runs, newest first',
      tag: 'lifecycle',
      auth: 'admin',
      query: pageQuery,
      response: listOf(scrubRunSchema),
      handler: async ({ query, reply }) => {
        const result = await s.lifecycle.scrub.runs({ offset: (query.page - 1) * query.page_size, limit: query.page_size });
        reply.header('X-Total-Count', String(result.total));
        return { items: result.items.map(runView), total: result.total };
      },
    }),
    route({
      method: 'GET',
      path: '/system/scrub/{id}',
      summary: 'One scrub run, with the problems it found and what depends on them',
      tag: 'lifecycle',
      auth: 'admin',
      params: z.object({ id: z.coerce.number().int().positive() }),
      response: scrubRunSchema.extend({ problems: z.array(problemSchema).nullable().describe('The first thousand, by digest; null until the run ends') }),
      handler: async ({ params }) => {
        const run = await s.lifecycle.scrub.run(params.id);
        if (!run) throw new BerthError('NOT_FOUND', { message: `scrub run ${params.id} not found` });
        return { ...runView(run), problems: await s.lifecycle.scrub.report(params.id) };
      },
    }),
    route({
      method: 'GET',
      path: '/system/quarantine',
      summary: 'Blobs and manifests quarantined now (never served until pushed again), with what depends on them',
      tag: 'lifecycle',
      auth: 'admin',
      query: pageQuery,
      response: listOf(problemSchema.extend({ quarantinedAt: z.string() })),
      handler: async ({ query, reply }) => {
        const result = await s.lifecycle.scrub.quarantined({ offset: (query.page - 1) * query.page_size, limit: query.page_size });
        reply.header('X-Total-Count', String(result.total));
        return { items: result.items.map((o) => ({ digest: o.digest, size: o.size, kind: o.kind, dependents: o.dependents, quarantinedAt: time(o.quarantinedAt)! })), total: result.total };
      },
    }),
  ];
}
