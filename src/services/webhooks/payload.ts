import { randomUUID } from 'node:crypto';
import type { StoredEvent } from '../../ports/event-store.js';
import type { WebhookFormat } from '../../ports/webhook-store.js';

const harborTypes: Record<string, string> = {
  push: 'PUSH_ARTIFACT',
  pull: 'PULL_ARTIFACT',
  delete: 'DELETE_ARTIFACT',
  tag: 'TAG_ARTIFACT',
  // Not one of Harbor's: the images built on a base whose tag moved (docs/insights.md, "Rebuild hints").
  rebuild: 'REBUILD_SUGGESTED',
  // Not one of Harbor's either: an image's best-practice lint, stored when it was indexed (docs/insights.md, "The image index").
  lint: 'LINT_COMPLETED',
  test: 'PING',
};

const cloudEventTypes: Record<string, string> = {
  push: 'dev.berth.artifact.pushed',
  pull: 'dev.berth.artifact.pulled',
  delete: 'dev.berth.artifact.deleted',
  tag: 'dev.berth.artifact.tagged',
  policy: 'dev.berth.artifact.pull-refused',
  rebuild: 'dev.berth.image.rebuild-suggested',
  lint: 'dev.berth.artifact.lint-completed',
  test: 'dev.berth.webhook.test',
};

export interface RenderedPayload {
  body: string;
  contentType: string;
}

/**
 * The body a receiver gets: Harbor's webhook payload (so Harbor integrations keep working) or
 * a CloudEvents 1.0 structured-mode event.
 */
export function renderPayload(format: WebhookFormat, event: StoredEvent, options: { registryHost: string; projectPublic: boolean }): RenderedPayload {
  const repository = event.repository ?? '';
  const slash = repository.indexOf('/');
  const reference = event.data.tag ? `:${event.data.tag}` : event.data.digest ? `@${event.data.digest}` : '';
  const resource = {
    digest: event.data.digest,
    tag: event.data.tag,
    resource_url: `${options.registryHost}/${repository}${reference}`,
  };
  if (format === 'harbor') {
    return {
      contentType: 'application/json',
      body: JSON.stringify({
        type: harborType(event),
        occur_at: Math.floor(event.createdAt / 1000),
        operator: event.data.operator,
        event_data: {
          resources: event.type === 'rebuild' ? rebuildResources(event, options.registryHost) : [resource],
          repository: {
            date_created: Math.floor(event.createdAt / 1000),
            name: slash === -1 ? repository : repository.slice(slash + 1),
            namespace: event.project,
            repo_full_name: repository,
            repo_type: options.projectPublic ? 'public' : 'private',
          },
          ...(event.type === 'quota' ? { custom_attributes: { Details: quotaDetails(event) } } : {}),
          ...(event.type === 'rebuild' ? { custom_attributes: { base: { ...resource, previous_digest: event.data.previousDigest }, ...event.data.details } } : {}),
        },
      }),
    };
  }
  return {
    contentType: 'application/cloudevents+json; charset=utf-8',
    body: JSON.stringify({
      specversion: '1.0',
      id: event.id > 0 ? `berth-event-${event.id}` : randomUUID(),
      source: `${options.registryHost}/${repository}`,
      type:
        event.type === 'quota'
          ? `dev.berth.quota.${quotaPercent(event) >= 100 ? 'reached' : 'warning'}`
          : event.type === 'scan'
            ? `dev.berth.artifact.scan-${scanFailed(event) ? 'failed' : 'completed'}`
            : (cloudEventTypes[event.type] ?? `dev.berth.${event.type}`),
      subject: `${repository}${reference}`,
      time: new Date(event.createdAt).toISOString(),
      datacontenttype: 'application/json',
      data: { ...event.data, project: event.project, resourceUrl: resource.resource_url },
    }),
  };
}

/** Harbor's event type names: its scan events say whether the scan succeeded. */
function harborType(event: StoredEvent): string {
  if (event.type === 'quota') return quotaPercent(event) >= 100 ? 'QUOTA_EXCEED' : 'QUOTA_WARNING';
  if (event.type === 'scan') return scanFailed(event) ? 'SCANNING_FAILED' : 'SCANNING_COMPLETED';
  return harborTypes[event.type] ?? event.type.toUpperCase();
}

/** A rebuild event's resources are the images to rebuild (its repository and tag name the base that moved). */
function rebuildResources(event: StoredEvent, registryHost: string): Array<{ digest: string; tag?: string; resource_url: string }> {
  const images = Array.isArray(event.data.details?.images) ? (event.data.details.images as Array<{ repository: string; digest: string; tags: string[] }>) : [];
  return images.map((image) => ({ digest: image.digest, tag: image.tags[0], resource_url: `${registryHost}/${image.repository}${image.tags[0] ? `:${image.tags[0]}` : `@${image.digest}`}` }));
}

function scanFailed(event: StoredEvent): boolean {
  return event.data.details?.status === 'failed';
}

function quotaPercent(event: StoredEvent): number {
  return Number(event.data.details?.percent ?? 0);
}

/** What a quota event says, in words (Harbor's `Details`). */
function quotaDetails(event: StoredEvent): string {
  const d = event.data.details ?? {};
  return `project ${String(d.project)} reached ${String(d.percent)}% of its ${String(d.kind)} quota: ${String(d.used)} of ${String(d.limit)}`;
}
