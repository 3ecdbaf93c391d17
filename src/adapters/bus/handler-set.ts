import type { Invalidation, InvalidationHandler } from '../../ports/invalidation-bus.js';

/** The subscribers of one bus; a subscriber that throws never stops the others from hearing. */
export class HandlerSet {
  private readonly handlers = new Set<InvalidationHandler>();

  constructor(private readonly onError: (err: unknown) => void = () => undefined) {}

  add(handler: InvalidationHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  deliver(invalidation: Invalidation, sender: string): void {
    for (const handler of this.handlers) {
      try {
        handler(invalidation, sender);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}
