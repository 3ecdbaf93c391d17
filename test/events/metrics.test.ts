import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { RegistryClient, randomBlob, jsonBlob, imageManifest, OCI_MANIFEST } from '../helpers/oci.js';

/** Parses the text exposition format into `name{labels}` → value. */
function parse(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)/.exec(line);
    if (!match) throw new Error(`unparseable exposition line: ${line}`);
    samples.set(match[1]!, Number(match[2]));
  }
  return samples;
}

describe('Prometheus /metrics', () => {
  let berth: TestBerth;
  let client: RegistryClient;

  beforeAll(async () => {
    berth = await startTestBerth();
    client = new RegistryClient(berth.url);
  });
  afterAll(async () => {
    await berth?.stop();
  });

  const scrape = async () => {
    const res = await fetch(`${berth.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text();
  };

  it('moves the counters by exactly what a scripted push and pull did', async () => {
    const before = parse(await scrape());
    const config = jsonBlob({ architecture: 'amd64', os: 'linux', note: 'metrics' });
    const layers = [randomBlob(10_000), randomBlob(25_000)];
    for (const blob of [config, ...layers]) expect((await client.pushBlob('metrics/app', blob)).status).toBe(201);
    const manifest = imageManifest(config, layers);
    expect((await client.pushManifest('metrics/app', 'v1', manifest)).status).toBe(201);
    const pulled = await client.fetch('/v2/metrics/app/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
    await pulled.arrayBuffer();
    for (const blob of [config, ...layers]) await (await client.fetch(`/v2/metrics/app/blobs/${blob.digest}`)).arrayBuffer();
    // A request is counted when the server has finished it, which can trail the client's last byte.
    const blobGets = 'berth_http_requests_total{route="v2_blob",method="GET",status="200"}';
    let after = parse(await scrape());
    for (let i = 0; i < 40 && (after.get(blobGets) ?? 0) - (before.get(blobGets) ?? 0) < 3; i++) {
      await new Promise((r) => setTimeout(r, 25));
      after = parse(await scrape());
    }

    const delta = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
    const blobBytes = config.data.length + 10_000 + 25_000;
    expect(delta('berth_http_requests_total{route="v2_uploads",method="POST",status="201"}')).toBe(3);
    expect(delta('berth_http_requests_total{route="v2_manifest",method="PUT",status="201"}')).toBe(1);
    expect(delta('berth_http_requests_total{route="v2_manifest",method="GET",status="200"}')).toBe(1);
    expect(delta('berth_http_requests_total{route="v2_blob",method="GET",status="200"}')).toBe(3);
    expect(delta('berth_http_request_duration_seconds_count{route="v2_blob",method="GET"}')).toBe(3);
    expect(delta('berth_blob_bytes_received_total')).toBe(blobBytes);
    expect(delta('berth_blob_bytes_sent_total')).toBe(blobBytes + manifest.length);
    expect(delta('berth_repositories')).toBe(1);
    expect(delta('berth_manifests')).toBe(1);
    expect(delta('berth_blobs')).toBe(4);
    expect(delta('berth_stored_bytes')).toBe(blobBytes + manifest.length);
    expect(after.get('berth_uploads_in_flight')).toBe(0);
    expect(after.get('berth_jobs{status="failed"}')).toBe(0);
    expect(after.has('berth_process_resident_memory_bytes')).toBe(true);
  });

  it.skipIf(!existsSync('/usr/bin/promtool'))('passes promtool check metrics (Debian prometheus package)', async () => {
    const result = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: await scrape(), encoding: 'utf8' });
    // Exit 1 is a parse error. Exit 3 is lint findings: only prom-client's own default gauges may have them.
    expect(result.status === 0 || result.status === 3, result.stderr).toBe(true);
    const findings = `${result.stdout}${result.stderr}`.split('\n').filter((l) => l.trim() !== '');
    expect(findings.filter((l) => !/^berth_nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/.test(l))).toEqual([]);
  });

  it('has every metric the Grafana dashboard in docs/ queries', async () => {
    const dashboard = await readFile(new URL('../../docs/grafana-dashboard.json', import.meta.url), 'utf8');
    const wanted = new Set(dashboard.match(/berth_[a-z0-9_]+/g));
    const exposed = new Set([...parse(await scrape()).keys()].map((k) => k.replace(/\{.*$/, '')));
    expect([...wanted].filter((m) => !exposed.has(m))).toEqual([]);
    expect(wanted.size).toBeGreaterThan(10);
  });

  it('reports readiness per dependency', async () => {
    const res = await fetch(`${berth.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', checks: { database: 'ok', storage: 'ok', invalidation: 'this process only' } });
    expect(await (await fetch(`${berth.url}/healthz`)).json()).toEqual({ status: 'ok' });
  });
});
