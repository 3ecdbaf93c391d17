import { z } from 'zod';
import { BerthError } from '../../domain/errors.js';
import type { GcRunRow } from '../../ports/gc-store.js';
import { listOf, route, type AnyRoute } from './api-route.js';
import type { ApiServices } from './services.js';

const time = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const gcRunSchema = z.object({
  id: z.number().int(),
  status: z.enum(['queued', 'running', 'succeeded', 'failed', 'interrupted']),
  dryRun: z.boolean(),
  deleteUntagged: z.boolean(),
  graceHours: z.number(),
  triggeredBy: z.string(),
  phase: z.string().nullable().describe('Where a running run is: uploads, manifests, links, blobs, done'),
  manifestsDeleted: z.number().int().describe('Manifests deleted (a dry run: that would be)'),
  linksDeleted: z.number().int(),
  blobsDeleted: z.number().int(),
  bytesFreed: z.number().int(),
  uploadsExpired: z.number().int(),
  error: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
});

const gcRunDetail = gcRunSchema.extend({
  preview: z
    .array(z.object({ repository: z.string(), digest: z.string(), size: z.number().int() }))
    .nullable()
    .describe('A dry run: the manifests that would be deleted (the first thousand)'),
});

function runView(run: GcRunRow): z.infer<typeof gcRunSchema> {
  return {
    id: run.id,
    status: run.status,
    dryRun: run.dryRun,
    deleteUntagged: run.options.deleteUntagged,
    graceHours: run.options.graceMs / 3_600_000,
    triggeredBy: run.triggeredBy,
    phase: run.phase,
    manifestsDeleted: run.manifestsDeleted,
    linksDeleted: run.linksDeleted,
    blobsDeleted: run.blobsDeleted,
    bytesFreed: run.bytesFreed,
    uploadsExpired: run.uploadsExpired,
    error: run.error,
    createdAt: time(run.createdAt)!,
    startedAt: time(run.startedAt),
    finishedAt: time(run.finishedAt),
  };
}

/** Garbage collection on demand and its history (docs/lifecycle.md). */
export function gcRoutes(s: ApiServices): AnyRoute[] {
  return [
    route({
      method: 'POST',
      path: '/system/gc',
      summary: 'Start a garbage collection run (or a dry run); one at a time across instances',
      tag: 'lifecycle',
      auth: 'admin',
      body: z
        .strictObject({
          dryRun: z.boolean().default(false).describe('Report what would go; delete nothing'),
          deleteUntagged: z.boolean().optional().describe('Also delete manifests no tag and no index references. Default: lifecycle.gc.deleteUntagged'),
          graceHours: z.number().min(0).max(24 * 365).optional().describe('Only what is untouched this long goes. Default: lifecycle.gc.graceHours'),
        })
        .prefault({}),
      response: gcRunSchema,
      status: 201,
      audit: { action: 'gc.start', resourceType: 'system', resource: (_i, run) => (run ? `gc run ${run.id}` : 'gc') },
      handler: async ({ body, principal }) =>
        runView(
          await s.lifecycle.requestGc(
            { dryRun: body.dryRun, deleteUntagged: body.deleteUntagged, graceMs: body.graceHours === undefined ? undefined : body.graceHours * 3_600_000 },
            principal.kind === 'anonymous' ? 'anonymous' : principal.name,
          ),
        ),
    }),
    route({
      method: 'GET',
      path: '/system/gc',
      summary: 'Garbage collection runs, newest first',
      tag: 'lifecycle',
      auth: 'admin',
      query: z.object({ page: z.coerce.number().int().min(1).default(1), page_size: z.coerce.number().int().min(1).max(100).default(20) }),
      response: listOf(gcRunSchema),
      handler: async ({ query, reply }) => {
        const result = await s.lifecycle.gc.runs({ offset: (query.page - 1) * query.page_size, limit: query.page_size });
        reply.header('X-Total-Count', String(result.total));
        return { items: result.items.map(runView), total: result.total };
      },
    }),
    route({
      method: 'GET',
      path: '/system/gc/{id}',
      summary: 'One garbage collection run, with a dry run’s list of what would go',
      tag: 'lifecycle',
      auth: 'admin',
      params: z.object({ id: z.coerce.number().int().positive() }),
      response: gcRunDetail,
      handler: async ({ params }) => {
        const run = await s.lifecycle.gc.run(params.id);
        if (!run) throw new BerthError('NOT_FOUND', { message: `garbage collection run ${params.id} not found` });
        return { ...runView(run), preview: run.preview?.map((m) => ({ repository: m.repository, digest: m.digest, size: m.size })) ?? null };
      },
    }),
  ];
}
