import { z } from 'zod';
import { BerthError } from '../../domain/errors.js';
import type { JobRow } from '../../ports/job-store.js';
import { listOf, route, type AnyRoute } from './api-route.js';
import type { ApiServices } from './services.js';

const jobSchema = z.object({
  id: z.number().int(),
  type: z.string(),
  status: z.enum(['queued', 'running', 'succeeded', 'failed']),
  attempts: z.number().int(),
  maxAttempts: z.number().int(),
  runAt: z.string(),
  lastError: z.string().nullable(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
  payload: z.record(z.string(), z.unknown()),
});

function jobView(job: JobRow): z.infer<typeof jobSchema> {
  return {
    id: job.id,
    type: job.type,
    status: job.status,
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    runAt: new Date(job.runAt).toISOString(),
    lastError: job.lastError,
    createdAt: new Date(job.createdAt).toISOString(),
    finishedAt: job.finishedAt === null ? null : new Date(job.finishedAt).toISOString(),
    payload: job.payload,
  };
}

/** The background job queue, for administrators. */
export function jobRoutes(s: ApiServices): AnyRoute[] {
  return [
    route({
      method: 'GET',
      path: '/jobs',
      summary: 'List background jobs (newest first)',
      tag: 'jobs',
      auth: 'admin',
      query: z.object({
        page: z.coerce.number().int().min(1).default(1),
        page_size: z.coerce.number().int().min(1).max(100).default(20),
        status: z.enum(['queued', 'running', 'succeeded', 'failed']).optional(),
        type: z.string().max(100).optional(),
      }),
      response: listOf(jobSchema),
      handler: async ({ query, reply }) => {
        const result = await s.jobs.list({ status: query.status, type: query.type }, { offset: (query.page - 1) * query.page_size, limit: query.page_size });
        reply.header('X-Total-Count', String(result.total));
        return { items: result.items.map(jobView), total: result.total };
      },
    }),
    route({
      method: 'GET',
      path: '/jobs/{id}',
      summary: 'Get a job',
      tag: 'jobs',
      auth: 'admin',
      params: z.object({ id: z.coerce.number().int().positive() }),
      response: jobSchema,
      handler: async ({ params }) => {
        const job = await s.jobs.get(params.id);
        if (!job) throw new BerthError('NOT_FOUND', { message: `job ${params.id} not found` });
        return jobView(job);
      },
    }),
  ];
}
