import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pssOf, startBerth, startDistribution, type RunningSystem } from '../../bench/systems.js';
import { OutboundClient } from '../../src/adapters/outbound/outbound-client.js';
import { RegistryClient as UpstreamClient } from '../../src/adapters/upstream/registry-client.js';
import { parseCidr } from '../../src/domain/address-ranges.js';
import { ApiClient } from '../helpers/api.js';
import { OCI_MANIFEST, imageManifest, jsonBlob, sha256 } from '../helpers/oci.js';
import { LoggingRelay } from '../helpers/upstream-relay.js';

// Issue 15, must-show 2: 20 clients pull the same new 200 MB layer through a proxy-cache project
// at once. The upstream serves it once, every client gets the verified bytes, and Berth's memory
// (PSS of every process) stays bounded while 4 GB stream out.
const distributionMissing = !existsSync('/usr/bin/docker-registry');
if (distributionMissing) console.warn('SKIPPED: CNCF distribution (Debian docker-registry) is not installed; the 20 concurrent first pulls are not checked');

const layerBytes = 200 * 1024 * 1024;
const clients = 20;

/** 200 MB that need not be held in memory: the same pseudo-random 1 MiB block, each copy numbered. */
function layerStream(): Readable {
  const block = createHash('sha512').update('berth').digest();
  const mib = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < mib.length; i += block.length) block.copy(mib, i);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= layerBytes) return this.push(null);
      const chunk = Buffer.from(mib);
      chunk.writeUInt32BE(sent / mib.length, 0);
      sent += chunk.length;
      this.push(chunk);
    },
  });
}

async function digestOf(stream: AsyncIterable<Uint8Array>, onFirst?: () => void): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) {
    onFirst?.();
    onFirst = undefined;
    hash.update(chunk);
  }
  return `sha256:${hash.digest('hex')}`;
}

describe.skipIf(distributionMissing)('20 concurrent first pulls of a 200 MB layer through a proxy-cache project', () => {
  let distribution: RunningSystem;
  let relay: LoggingRelay;
  let berth: RunningSystem;
  let layerDigest: string;
  let manifestDigest: string;

  beforeAll(async () => {
    distribution = await startDistribution();
    relay = new LoggingRelay(distribution.url);
    await relay.start();
    layerDigest = await digestOf(layerStream());
    const outbound = new OutboundClient({ allowed: () => [parseCidr('127.0.0.0/8')!], timeoutMs: 60_000, maxResponseBytes: 1024 * 1024, maxRedirects: 5, userAgent: 'Berth-test' });
    const upstream = new UpstreamClient({ outbound, feature: 'replication', url: distribution.url, maxManifestBytes: 4 * 1024 * 1024 });
    await upstream.putBlob('lib/big', layerDigest, layerBytes, layerStream());
    const config = jsonBlob({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    await upstream.putBlob('lib/big', config.digest, config.data.length, Readable.from([config.data]));
    const manifest = imageManifest(config, [{ digest: layerDigest, data: Buffer.alloc(0) }]);
    const body = Buffer.from(manifest.toString('utf8').replace('"size":0', `"size":${layerBytes}`));
    manifestDigest = sha256(body);
    await upstream.putManifest('lib/big', 'v1', { mediaType: OCI_MANIFEST, body });
    await outbound.close();
    berth = await startBerth(process.cwd(), { workers: 4, set: ['outbound.allowCidrs=127.0.0.0/8'] });
    const api = new ApiClient(berth.url, berth.credentials);
    await api.createProject('hub');
    const endpoint = await api.ok<{ id: number }>('POST', '/registries', { name: 'dist', kind: 'oci', url: relay.url });
    await api.ok('PUT', '/projects/hub/proxy-cache', { proxyCache: { endpointId: endpoint.id, ttlSeconds: 3600 } });
  }, 180_000);

  afterAll(async () => {
    await berth?.stop();
    await relay?.stop();
    await distribution?.stop();
  });

  it('fetches the layer upstream once and gives all 20 clients the verified bytes, memory bounded', async () => {
    const auth = `Basic ${Buffer.from(`${berth.credentials!.username}:${berth.credentials!.password}`).toString('base64')}`;
    const idle = pssOf(berth.pids());
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, pssOf(berth.pids()))), 100);
    const started = performance.now();
    let firstByte = Infinity;
    try {
      const results = await Promise.all(
        Array.from({ length: clients }, async () => {
          const manifest = await fetch(`${berth.url}/v2/hub/lib/big/manifests/v1`, { headers: { accept: OCI_MANIFEST, authorization: auth } });
          const manifestHash = sha256(Buffer.from(await manifest.arrayBuffer()));
          const blob = await fetch(`${berth.url}/v2/hub/lib/big/blobs/${layerDigest}`, { headers: { authorization: auth } });
          return { manifest: manifestHash, status: blob.status, layer: await digestOf(blob.body!, () => (firstByte = Math.min(firstByte, performance.now() - started))) };
        }),
      );
      expect(results).toEqual(Array.from({ length: clients }, () => ({ manifest: manifestDigest, status: 200, layer: layerDigest })));
    } finally {
      clearInterval(sampler);
    }
    const seconds = (performance.now() - started) / 1000;
    expect(relay.blobGets(layerDigest, 'lib/big')).toBe(1);
    const growth = peak - idle;
    console.log(`20 first pulls of a 200 MiB layer: ${seconds.toFixed(1)} s, first layer byte after ${firstByte.toFixed(0)} ms, upstream blob GETs ${relay.blobGets(layerDigest, 'lib/big')}, Berth PSS ${(idle / 2 ** 20).toFixed(0)} -> peak ${(peak / 2 ** 20).toFixed(0)} MiB`);
    // 4 GB streamed out; memory grows by socket and stream buffers, never by the layer (one
    // 200 MiB copy held anywhere would add more than this bound on its own). The idle figure is
    // taken before any worker has pulled, so the growth also holds the code that loads on first
    // use in each of the 4 workers (the HTTP client, the proxy path: about 16 MiB each; the
    // peak stayed at 361-393 MiB when that code moved out of the start).
    expect(growth).toBeLessThan(224 * 1024 * 1024);
  }, 300_000);
});
