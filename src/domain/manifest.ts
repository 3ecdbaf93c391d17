import { BerthError } from './errors.js';
import { tryParseDigest, type Digest } from './digest.js';
import { MediaType, imageManifestTypes, indexManifestTypes, isValidMediaType, baseMediaType, isNonDistributable } from './media-types.js';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: Platform;
}

export interface ParsedManifest {
  mediaType: string;
  kind: 'image' | 'index';
  config?: Descriptor;
  /** Blobs an image manifest references (layers and blobs of artifacts). */
  layers: Descriptor[];
  /** Manifests an index references. */
  manifests: Descriptor[];
  subject?: Descriptor;
  /** OCI dist-spec "Listing Referrers": artifactType, else the config's media type. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

type Json = Record<string, unknown>;

function invalid(message: string, detail?: unknown): BerthError {
  return new BerthError('MANIFEST_INVALID', { message, detail });
}

/**
 * Parses and validates a manifest body as pushed by a client.
 * `contentType` is the request's Content-Type; when it names a manifest type it must agree
 * with the body's own `mediaType` field (OCI image-spec: "mediaType ... MUST match").
 */
export function parseManifest(body: Uint8Array, contentType: string | undefined): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch (err) {
    throw invalid(`manifest is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw invalid('manifest must be a JSON object');

  const headerType = baseMediaType(contentType);
  const bodyType = doc.mediaType;
  if (bodyType !== undefined && typeof bodyType !== 'string') throw invalid('mediaType must be a string');
  const mediaType = resolveMediaType(headerType, bodyType, doc);

  if (mediaType === MediaType.dockerSchema1 || mediaType === MediaType.dockerSchema1Signed) {
    throw invalid('Docker schema 1 manifests are not supported; push with a current client (schema 2 or OCI)');
  }
  if (doc.schemaVersion !== 2) throw invalid('schemaVersion must be 2', { schemaVersion: doc.schemaVersion ?? null });

  const annotations = parseAnnotations(doc.annotations, 'annotations');
  const subject = doc.subject === undefined ? undefined : parseDescriptor(doc.subject, 'subject');
  const artifactTypeField = optionalMediaType(doc.artifactType, 'artifactType');

  if (imageManifestTypes.has(mediaType)) {
    if (doc.manifests !== undefined) throw invalid('an image manifest must not have "manifests"');
    const config = parseDescriptor(doc.config, 'config');
    if (!Array.isArray(doc.layers)) throw invalid('layers must be an array');
    const layers = doc.layers.map((layer, i) => parseDescriptor(layer, `layers[${i}]`));
    if (mediaType === MediaType.ociManifest && config.mediaType === MediaType.ociEmpty && artifactTypeField === undefined) {
      // OCI image-spec 1.1: an artifact with the empty config MUST set artifactType.
      throw invalid('artifactType must be set when config.mediaType is application/vnd.oci.empty.v1+json');
    }
    return {
      mediaType,
      kind: 'image',
      config,
      layers,
      manifests: [],
      subject,
      artifactType: artifactTypeField ?? config.mediaType,
      annotations,
    };
  }

  if (indexManifestTypes.has(mediaType)) {
    if (!Array.isArray(doc.manifests)) throw invalid('manifests must be an array');
    if (doc.layers !== undefined || doc.config !== undefined) throw invalid('an index must not have "config" or "layers"');
    const manifests = doc.manifests.map((m, i) => parseDescriptor(m, `manifests[${i}]`));
    return { mediaType, kind: 'index', layers: [], manifests, subject, artifactType: artifactTypeField, annotations };
  }

  throw invalid(`unsupported manifest media type: ${mediaType}`, {
    supported: [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList],
  });
}

function resolveMediaType(headerType: string | undefined, bodyType: string | undefined, doc: Json): string {
  const headerIsManifest = headerType !== undefined && headerType !== 'application/json' && headerType !== 'application/octet-stream';
  if (headerIsManifest && bodyType !== undefined && bodyType !== headerType) {
    throw invalid(`Content-Type ${headerType} does not match the manifest's mediaType ${bodyType}`);
  }
  if (headerIsManifest) return headerType;
  if (bodyType !== undefined) return bodyType;
  // Neither says: OCI image-spec allows mediaType to be absent, so infer from the shape.
  if (Array.isArray(doc.manifests)) return MediaType.ociIndex;
  if (doc.config !== undefined) return MediaType.ociManifest;
  throw invalid('cannot tell the manifest media type: set Content-Type or mediaType');
}

function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where} must be a descriptor object`);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string' || !isValidMediaType(mediaType)) throw invalid(`${where}.mediaType is missing or invalid`);
  if (typeof digest !== 'string') throw invalid(`${where}.digest is missing`);
  const parsed = tryParseDigest(digest);
  if (!parsed) throw new BerthError('DIGEST_INVALID', { message: `${where}.digest is invalid: ${digest.slice(0, 100)}` });
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(`${where}.size must be a non-negative integer`);
  const descriptor: Descriptor = { mediaType, digest: parsed.digest, size };
  const artifactType = optionalMediaType(value.artifactType, `${where}.artifactType`);
  if (artifactType !== undefined) descriptor.artifactType = artifactType;
  const annotations = parseAnnotations(value.annotations, `${where}.annotations`);
  if (annotations !== undefined) descriptor.annotations = annotations;
  if (value.urls !== undefined) {
    if (!Array.isArray(value.urls) || !value.urls.every((u) => typeof u === 'string')) throw invalid(`${where}.urls must be an array of strings`);
    descriptor.urls = value.urls as string[];
  }
  if (value.platform !== undefined) descriptor.platform = parsePlatform(value.platform, `${where}.platform`);
  return descriptor;
}

function parsePlatform(value: unknown, where: string): Platform {
  if (!isObject(value) || typeof value.architecture !== 'string' || typeof value.os !== 'string') {
    throw invalid(`${where} must have string "architecture" and "os"`);
  }
  const platform: Platform = { architecture: value.architecture, os: value.os };
  if (typeof value.variant === 'string') platform.variant = value.variant;
  if (typeof value['os.version'] === 'string') platform['os.version'] = value['os.version'];
  return platform;
}

function parseAnnotations(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw invalid(`${where} must be an object of strings`);
  }
  return value as Record<string, string>;
}

function optionalMediaType(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !isValidMediaType(value)) throw invalid(`${where} is not a valid media type`);
  return value;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every digest a manifest needs to exist in its repository before it may be pushed. */
export function requiredReferences(manifest: ParsedManifest): { blobs: Digest[]; manifests: Digest[] } {
  const blobs = new Set<Digest>();
  if (manifest.config) blobs.add(manifest.config.digest);
  for (const layer of manifest.layers) {
    // Foreign layers with URLs are fetched from elsewhere by clients; they need not be here.
    if (layer.urls && layer.urls.length > 0) continue;
    if (isNonDistributable(layer.mediaType)) continue;
    blobs.add(layer.digest);
  }
  return { blobs: [...blobs], manifests: [...new Set(manifest.manifests.map((m) => m.digest))] };
}
