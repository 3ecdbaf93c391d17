import type { Invalidation, InvalidationHandler } from '../../ports/invalidation-bus.js';

/** The subscribers of one bus; a subscriber that throws never stops the others from hearing. */
export class HandlerSet {
  private readonly handlers = new Set<InvalidationHandler>();

  constructor(private readonly onError: (err: unknown) => void = () => undefined) {}

  add(handler: InvalidationHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Runs every handler now; resolves when the promises they returned have settled (failures go to onError). */
  deliver(invalidation: Invalidation, sender: string): Promise<void> {
    const pending: Array<Promise<unknown>> = [];
    for (const handler of this.handlers) {
      try {
        const result = handler(invalidation, sender);
        if (result instanceof Promise) pending.push(result.catch(this.onError));
      } catch (err) {
        this.onError(err);
      }
    }
    return pending.length === 0 ? Promise.resolve() : Promise.all(pending).then(() => undefined);
  }
}
