import { createHash } from 'node:crypto';
import { parseDigest, type Digest } from '../../domain/digest.js';
import { BerthError } from '../../domain/errors.js';
import { LruCache } from '../../domain/lru-cache.js';
import type { Registry } from '../registry/registry.js';
import {
  NotationArtifactType,
  SigstoreBundleArtifactType,
  cosignSignatureTag,
  parseSignatureTrust,
  verifySignatureArtifact,
  type SignatureTrust,
  type SignatureTrustInput,
  type SignatureVerdict,
} from './signatures/index.js';

/** One signature of an artifact with where it was found. */
export type FoundSignature = SignatureVerdict & { source: 'tag' | 'referrer' };

export interface SignatureStatus {
  digest: string;
  /** Some signature verified against the project's trust configuration. */
  verified: boolean;
  /** When the artifact has no verified signature of its own: the index of the repository that does, and lists it. */
  verifiedThrough?: string;
  signatures: FoundSignature[];
}

/** Signature artifacts looked at per subject at most (a subject with more is judged by the first ones). */
const maxSignatures = 20;
/** Indexes asked about for a platform manifest without signatures of its own. */
const maxParents = 10;

/**
 * Signatures of an artifact (issue 16): cosign's `sha256-<hex>.sig` tag, and Notation and
 * Sigstore-bundle referrers (OCI 1.1 `subject`), verified against a project's trust
 * configuration. A platform manifest counts as signed when an index of its repository that lists
 * it is: cosign and notation sign the index a multi-platform tag points at, and clients then pull
 * the platform manifest by digest. Verdicts are kept per subject, signature set and trust
 * configuration, so pulls of a signed image verify once.
 */
export class SignatureService {
  private readonly verdicts = new LruCache<string, FoundSignature[]>(4 * 2 ** 20, (v) => 512 + JSON.stringify(v).length);

  constructor(private readonly registry: Registry) {}

  async status(repository: string, digest: string, trustInput: SignatureTrustInput | undefined): Promise<SignatureStatus> {
    const trust = parseSignatureTrust(trustInput ?? {});
    const trustKey = createHash('sha256').update(JSON.stringify(trust)).digest('hex');
    const signatures = await this.verify(repository, digest, trust, trustKey);
    const status: SignatureStatus = { digest, verified: signatures.some((s) => s.verified), signatures };
    if (status.verified) return status;
    const row = await this.registry.meta.getRepository(repository);
    const parents = row ? await this.registry.meta.listParents(row.id, parseDigest(digest).digest, maxParents) : [];
    for (const parent of parents) {
      if ((await this.verify(repository, parent, trust, trustKey)).some((s) => s.verified)) return { ...status, verifiedThrough: parent };
    }
    return status;
  }

  private async verify(repository: string, digest: string, trust: SignatureTrust, trustKey: string): Promise<FoundSignature[]> {
    const found = await this.signatureManifests(repository, digest);
    const key = `${repository}\n${digest}\n${trustKey}\n${found.map((f) => f.digest).join(',')}`;
    const cached = this.verdicts.get(key);
    if (cached) return cached;
    const subject = (await this.registry.manifests.get(repository, digest)).body;
    const readBlob = async (blobDigest: string, maxBytes: number) => {
      const blob = await this.registry.blobs.openQuietly(repository, blobDigest);
      const chunks: Buffer[] = [];
      let bytes = 0;
      for await (const chunk of blob.stream) {
        bytes += (chunk as Buffer).length;
        if (bytes > maxBytes) {
          blob.stream.destroy();
          throw new Error(`blob ${blobDigest} is over ${maxBytes} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
      return Buffer.concat(chunks);
    };
    const results: FoundSignature[] = [];
    for (const signature of found) {
      const verdicts = await verifySignatureArtifact({ subjectDigest: digest, manifest: signature.body, readBlob, subjectManifest: subject }, trust);
      for (const verdict of verdicts) results.push({ ...verdict, source: signature.source });
    }
    this.verdicts.set(key, results);
    return results;
  }

  /** The signature artifacts of `digest` in `repository`: cosign's tag first, then referrers of the signature types. */
  private async signatureManifests(repository: string, digest: string): Promise<Array<{ digest: string; body: Uint8Array; source: 'tag' | 'referrer' }>> {
    const found: Array<{ digest: string; body: Uint8Array; source: 'tag' | 'referrer' }> = [];
    try {
      const tagged = await this.registry.manifests.get(repository, cosignSignatureTag(digest));
      found.push({ digest: tagged.digest, body: tagged.body, source: 'tag' });
    } catch (err) {
      if (!(err instanceof BerthError) || (err.key !== 'MANIFEST_UNKNOWN' && err.key !== 'NAME_UNKNOWN')) throw err;
    }
    const index = JSON.parse((await this.registry.manifests.referrers(repository, digest)).toString('utf8')) as { manifests: Array<{ digest: Digest; artifactType?: string }> };
    for (const descriptor of index.manifests) {
      if (found.length >= maxSignatures) break;
      if (descriptor.artifactType !== NotationArtifactType && descriptor.artifactType !== SigstoreBundleArtifactType) continue;
      const manifest = await this.registry.manifests.get(repository, descriptor.digest);
      found.push({ digest: manifest.digest, body: manifest.body, source: 'referrer' });
    }
    return found;
  }
}
