import { randomUUID } from 'node:crypto';
import type {
  InvalidationBus,
  InvalidationBusStatus,
  InvalidationHandler,
  PublishedInvalidation,
} from '../../ports/invalidation-bus.js';
import { HandlerSet } from './handler-set.js';

/**
 * Instances in one process that hear each other (tests, embedders). Each Berth on SQLite gets a
 * hub of its own, so there the bus is a no-op: one process holds every cache there is (cluster
 * workers on SQLite relay through the primary instead, see src/cli/cluster.ts).
 */
export class LocalInvalidationHub {
  readonly members = new Set<LocalInvalidationBus>();

  bus(instanceId?: string): LocalInvalidationBus {
    return new LocalInvalidationBus(this, instanceId);
  }
}

export class LocalInvalidationBus implements InvalidationBus {
  private readonly handlers = new HandlerSet();

  constructor(
    private readonly hub: LocalInvalidationHub = new LocalInvalidationHub(),
    readonly instanceId: string = randomUUID(),
  ) {
    hub.members.add(this);
  }

  async publish(invalidation: PublishedInvalidation): Promise<void> {
    const applied: Array<Promise<void>> = [];
    for (const member of this.hub.members) {
      // Asynchronous like a network bus: a publisher never runs subscribers on its own stack.
      if (member !== this) applied.push(Promise.resolve().then(() => member.handlers.deliver(invalidation, this.instanceId)));
    }
    await Promise.all(applied);
  }

  /** Every member hears every message before `publish` resolves. */
  fresh(): boolean {
    return true;
  }

  subscribe(handler: InvalidationHandler): () => void {
    return this.handlers.add(handler);
  }

  status(): InvalidationBusStatus {
    return { scope: 'process', connected: true };
  }

  async close(): Promise<void> {
    this.hub.members.delete(this);
  }
}
