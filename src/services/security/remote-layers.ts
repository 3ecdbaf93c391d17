import { createHash, randomUUID } from 'node:crypto';
import { pipeline, Transform, type Readable } from 'node:stream';
import { BerthError } from '../../domain/errors.js';
import type { UpstreamRegistry } from '../../ports/upstream-registry.js';
import type { LayerBlobs } from './inventory-service.js';

/**
 * Layers of another registry for the inventory's layer walker (Berth as a scanner adapter,
 * docs/scanners.md): each scan opens a session naming its registry client and repository, and
 * passes the session's key where the walker passes a repository. Layers stream through a digest
 * check, so the summaries the inventory keeps by digest are of the bytes the digest names, whoever served them.
 */
export class RemoteLayers implements LayerBlobs {
  private readonly sessions = new Map<string, { registry: UpstreamRegistry; repository: string }>();

  /** A key to pass as the repository while `repository` of `registry` is read; close it after. */
  session(registry: UpstreamRegistry, repository: string): { key: string; close(): void } {
    const key = `remote:${randomUUID()}`;
    this.sessions.set(key, { registry, repository });
    return { key, close: () => void this.sessions.delete(key) };
  }

  async open(key: string, digest: string): Promise<{ stream: Readable }> {
    const session = this.sessions.get(key);
    if (!session) throw new Error(`no remote layer session ${key}`);
    const blob = await session.registry.getBlob(session.repository, digest);
    if (!blob) throw new BerthError('BLOB_UNKNOWN', { message: `the registry has no layer ${digest} in ${session.repository}`, detail: { digest } });
    const checked = verifying(digest);
    return { stream: pipeline(blob.body, checked, () => undefined) };
  }
}

/** Passes bytes through and fails at the end when they do not hash to `digest`. */
function verifying(digest: string): Transform {
  const [algorithm, expected] = digest.split(':', 2) as [string, string];
  const hash = createHash(algorithm === 'sha512' ? 'sha512' : 'sha256');
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      const actual = hash.digest('hex');
      if (actual === expected) return callback();
      callback(new BerthError('LAYER_UNREADABLE', { message: `the layer served as ${digest} hashes to ${algorithm}:${actual}`, detail: { reason: 'digest-mismatch' } }));
    },
  });
}
