import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ajvModule from 'ajv';
import { parse } from 'yaml';
import { configKeys } from '../../src/config/load.js';
import { ChartRenderer, TemplateError } from '../helpers/go-template.js';
import { parseManifests, referenceErrors, schemaErrors, type Manifest, type Workload } from '../helpers/k8s-manifests.js';

const exec = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const k8s = join(root, 'deploy', 'kubernetes');
const chart = join(root, 'deploy', 'helm', 'berth');

/**
 * The overlays use `labels` and `components`, which need the kustomize built into kubectl 1.22 or
 * later (kustomize v4.2+). Debian 12's kubernetes-client is kubectl 1.20 (kustomize v2.0.3): too old.
 */
async function kustomizeVersion(): Promise<string | undefined> {
  try {
    const { stdout } = await exec('kubectl', ['version', '--client', '-o', 'json']);
    return (JSON.parse(stdout) as { kustomizeVersion?: string }).kustomizeVersion;
  } catch {
    return undefined;
  }
}
const kustomizeSeen = await kustomizeVersion();
const kubectl = kustomizeSeen !== undefined && Number(/^v(\d+)\.(\d+)/.exec(kustomizeSeen)?.[1]) * 100 + Number(/^v\d+\.(\d+)/.exec(kustomizeSeen)?.[1]) >= 402;
if (!kubectl) {
  console.warn(`SKIPPING the Kustomize tests: they need kubectl 1.22 or later (kustomize v4.2+); found ${kustomizeSeen ? `kustomize ${kustomizeSeen}` : 'no kubectl, or one older than 1.21'}`);
}

async function kustomize(dir: string): Promise<Manifest[]> {
  const { stdout } = await exec('kubectl', ['kustomize', dir], { maxBuffer: 16 * 1024 * 1024 });
  return parseManifests(stdout);
}

const knownEnv = new Set([...configKeys().map((k) => k.env), 'BERTH_ADMIN_PASSWORD', 'BERTH_CONFIG']);
const one = <T extends Manifest>(ms: Manifest[], kind: string): T => {
  const found = ms.filter((m) => m.kind === kind);
  expect(found.map((m) => m.kind)).toEqual([kind]);
  return found[0] as T;
};

/** What every rendering of Berth's workload must have, whichever tool rendered it. */
function checkWorkload(ms: Manifest[], kind: 'Deployment' | 'StatefulSet', replicas: number, image: string): Workload {
  expect(schemaErrors(ms)).toEqual([]);
  expect(referenceErrors(ms)).toEqual([]);
  const w = one<Workload>(ms, kind);
  expect(w.spec.replicas).toBe(replicas);
  const pod = w.spec.template.spec;
  expect(pod.containers).toHaveLength(1);
  const c = pod.containers[0] as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  expect(c.image).toBe(image);
  expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
  expect(c.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
  expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
  expect(c.ports).toEqual([{ name: 'http', containerPort: 5000, protocol: 'TCP' }]);
  expect(c.resources).toEqual({ requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } });
  expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  expect(c.args).toEqual(['serve', '--config', '/etc/berth/berth.yaml']);
  expect((pod as Record<string, any>).securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 }); // eslint-disable-line @typescript-eslint/no-explicit-any
  // Every mount the read-only root filesystem needs to be writable.
  expect(c.volumeMounts.map((m: { mountPath: string }) => m.mountPath).sort()).toEqual(['/data', '/etc/berth', '/tmp']);
  // The settings file parses, and its keys are Berth's.
  const cm = ms.find((m) => m.kind === 'ConfigMap') as Manifest & { data: Record<string, string> };
  const settings = parse(cm.data['berth.yaml']!) as Record<string, Record<string, unknown>>;
  expect(settings.server).toMatchObject({ port: 5000, workers: 1, trustProxy: true });
  // Every environment variable the Secret holds is one Berth reads.
  const secret = ms.find((m) => m.kind === 'Secret') as Manifest & { data?: Record<string, string> };
  for (const key of Object.keys(secret.data ?? {})) expect(knownEnv.has(key), key).toBe(true);
  return w;
}

describe.skipIf(!kubectl)(`Kustomize (kubectl kustomize ${kustomizeSeen ?? 'missing'})${kubectl ? '' : ' (skipped: needs kustomize v4.2+)'}`, () => {
  it('embedded overlay: one StatefulSet pod with a volume for /data, and what it references', async () => {
    const ms = await kustomize(join(k8s, 'overlays', 'embedded'));
    expect(ms.map((m) => m.kind).sort()).toEqual(['ConfigMap', 'Ingress', 'Namespace', 'Secret', 'Service', 'ServiceAccount', 'StatefulSet']);
    for (const m of ms.filter((x) => x.kind !== 'Namespace')) expect(m.metadata.namespace).toBe('berth');
    const w = checkWorkload(ms, 'StatefulSet', 1, 'registry.example.com/berth/berth:0.1.0');
    expect(w.spec.volumeClaimTemplates?.map((v) => v.metadata.name)).toEqual(['data']);
    const secret = one<Manifest & { data: Record<string, string> }>(ms, 'Secret');
    expect(Object.keys(secret.data)).toEqual(['BERTH_ADMIN_PASSWORD']);
    // Generated names carry a content hash, and the workload uses the hashed names.
    expect(secret.metadata.name).toMatch(/^berth-secrets-[a-z0-9]{10}$/);
  });

  it('scale-out overlay: 3 replicas on PostgreSQL and S3, a PodDisruptionBudget, secrets for the database and the bucket', async () => {
    const ms = await kustomize(join(k8s, 'overlays', 'scale-out'));
    expect(ms.map((m) => m.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Ingress', 'Namespace', 'PodDisruptionBudget', 'Secret', 'Service', 'ServiceAccount']);
    const w = checkWorkload(ms, 'Deployment', 3, 'registry.example.com/berth/berth:0.1.0');
    expect(w.spec.template.spec.volumes?.find((v) => v.name === 'data')).toEqual({ name: 'data', emptyDir: {} });
    const secret = one<Manifest & { data: Record<string, string> }>(ms, 'Secret');
    expect(Object.keys(secret.data).sort()).toEqual(['BERTH_ADMIN_PASSWORD', 'BERTH_DATABASE_URL', 'BERTH_SECRETS_ENCRYPTION_KEY', 'BERTH_STORAGE_S3_ACCESS_KEY_ID', 'BERTH_STORAGE_S3_SECRET_ACCESS_KEY']);
    expect(Buffer.from(secret.data.BERTH_DATABASE_URL!, 'base64').toString()).toMatch(/^postgres:\/\//);
    const settings = parse(one<Manifest & { data: Record<string, string> }>(ms, 'ConfigMap').data['berth.yaml']!) as { storage: { driver: string; s3: { bucket: string } } };
    expect(settings.storage.driver).toBe('s3');
    expect(settings.storage.s3.bucket).toBe('berth');
    expect(one<Manifest & { spec: unknown }>(ms, 'PodDisruptionBudget').spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': 'berth' } } });
  });

  it('the ServiceMonitor component adds a monitor that selects the Service', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const dir = await mkdtemp(join(k8s, '.test-overlay-'));
    try {
      await writeFile(join(dir, 'kustomization.yaml'), 'resources: [../overlays/scale-out]\ncomponents: [../components/servicemonitor]\n');
      const ms = await kustomize(dir);
      const monitor = one<Manifest & { spec: { endpoints: unknown[] } }>(ms, 'ServiceMonitor');
      expect(monitor.spec.endpoints).toEqual([{ port: 'http', path: '/metrics', interval: '30s' }]);
      expect(schemaErrors(ms)).toEqual([]);
      expect(referenceErrors(ms)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the checks catch what they claim to: a misspelt probe, a missing Secret, a wrong selector', async () => {
    const ms = await kustomize(join(k8s, 'overlays', 'scale-out'));
    const broken = structuredClone(ms) as Array<Manifest & Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
    const d = broken.find((m) => m.kind === 'Deployment')!;
    const c = d.spec.template.spec.containers[0];
    c.readinesProbe = c.readinessProbe;
    delete c.readinessProbe;
    c.envFrom[0].secretRef.name = 'nope';
    d.spec.selector.matchLabels = { app: 'other' };
    expect(schemaErrors(broken)).toEqual(['Deployment/berth: /spec/template/spec/containers/0 must NOT have additional properties (readinesProbe)']);
    expect(referenceErrors(broken)).toEqual(['Deployment/berth: selector does not match the pod labels', 'Deployment/berth: Secret nope missing']);
  });
});

describe('Helm chart (without helm)', () => {
  const chartYaml = parse(readFileSync(join(chart, 'Chart.yaml'), 'utf8')) as Record<string, string>;
  const defaults = parse(readFileSync(join(chart, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  const schema = JSON.parse(readFileSync(join(chart, 'values.schema.json'), 'utf8')) as object;
  const Ajv = ajvModule.default;
  const validate = new Ajv({ allErrors: true, strict: true, strictRequired: false }).compile(schema);
  const templates = Object.fromEntries(
    readdirSync(join(chart, 'templates')).map((f) => [`templates/${f}`, readFileSync(join(chart, 'templates', f), 'utf8')]),
  );
  const renderer = new ChartRenderer(templates);

  const merge = (a: unknown, b: unknown): unknown => {
    if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
      const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
      for (const [k, v] of Object.entries(b)) out[k] = merge(out[k], v);
      return out;
    }
    return b === undefined ? a : b;
  };
  const values = (overrides: Record<string, unknown> = {}) => merge(defaults, overrides) as Record<string, unknown>;
  const render = (v: Record<string, unknown>, release = 'berth') => {
    const files = renderer.render({
      Values: v,
      Chart: { Name: chartYaml.name, Version: chartYaml.version, AppVersion: chartYaml.appVersion },
      Release: { Name: release, Namespace: 'default', Service: 'Helm', IsInstall: true },
    });
    const notes = files.get('templates/NOTES.txt')!;
    files.delete('templates/NOTES.txt');
    return { manifests: parseManifests([...files.values()].join('\n---\n')), notes };
  };

  it('Chart.yaml names the chart, a semver version and the app version', () => {
    expect(chartYaml).toMatchObject({ apiVersion: 'v2', name: 'berth', type: 'application' });
    expect(chartYaml.version).toMatch(/^\d+\.\d+\.\d+$/);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    expect(chartYaml.appVersion).toBe(pkg.version);
  });

  it('values.yaml and values-scale-out.yaml pass values.schema.json; wrong values do not', () => {
    expect(validate(defaults), JSON.stringify(validate.errors)).toBe(true);
    const scaleOut = values(parse(readFileSync(join(chart, 'values-scale-out.yaml'), 'utf8')) as Record<string, unknown>);
    expect(validate(scaleOut), JSON.stringify(validate.errors)).toBe(true);
    expect(validate(values({ mode: 'cluster' }))).toBe(false);
    expect(validate(values({ replicas: 3 }))).toBe(false); // unknown key (replicaCount is the one)
    expect(validate(values({ mode: 'scale-out', s3: { bucket: 'berth' } }))).toBe(false); // no database
    expect(validate(values({ mode: 'scale-out', database: { url: 'postgres://x@db/berth' } }))).toBe(false); // no bucket
    expect(validate(values({ secretsEncryptionKey: 'short' }))).toBe(false);
    expect(validate(values({ resources: { requests: { cpu: '250m', memory: '256 MB' } } }))).toBe(false);
  });

  it('embedded (the defaults) renders a one-pod StatefulSet with a volume claim and no PodDisruptionBudget', () => {
    const { manifests, notes } = render(values({ adminPassword: 'Change-me-1' }));
    expect(manifests.map((m) => m.kind).sort()).toEqual(['ConfigMap', 'Ingress', 'Secret', 'Service', 'ServiceAccount', 'StatefulSet']);
    const w = checkWorkload(manifests, 'StatefulSet', 1, 'registry.example.com/berth/berth:0.1.0');
    expect(w.spec.volumeClaimTemplates?.map((v) => v.metadata.name)).toEqual(['data']);
    expect(w.metadata.name).toBe('berth');
    const annotations = w.spec.template.metadata as unknown as { annotations: Record<string, string> };
    expect(annotations.annotations['checksum/config']).toMatch(/^[0-9a-f]{64}$/);
    expect(notes).toContain('Berth (embedded) is at https://registry.example.com.');
  });

  it('scale-out renders a Deployment of N pods, a PodDisruptionBudget, a ServiceMonitor and the secrets', () => {
    const v = values({ ...(parse(readFileSync(join(chart, 'values-scale-out.yaml'), 'utf8')) as object), replicaCount: 4, imagePullSecrets: ['berth-robot'] });
    const { manifests } = render(v, 'reg');
    expect(manifests.map((m) => m.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Ingress', 'PodDisruptionBudget', 'Secret', 'Service', 'ServiceAccount', 'ServiceMonitor']);
    const w = checkWorkload(manifests, 'Deployment', 4, 'registry.example.com/berth/berth:0.1.0');
    expect(w.metadata.name).toBe('reg-berth');
    expect(w.spec.template.spec.imagePullSecrets).toEqual([{ name: 'berth-robot' }]);
    const secret = one<Manifest & { data: Record<string, string> }>(manifests, 'Secret');
    expect(Object.keys(secret.data).sort()).toEqual(['BERTH_ADMIN_PASSWORD', 'BERTH_DATABASE_URL', 'BERTH_SECRETS_ENCRYPTION_KEY', 'BERTH_STORAGE_S3_ACCESS_KEY_ID', 'BERTH_STORAGE_S3_SECRET_ACCESS_KEY']);
    expect(Buffer.from(secret.data.BERTH_DATABASE_URL!, 'base64').toString()).toBe('postgres://berth:change-me@postgres.example.internal:5432/berth');
    const settings = parse(one<Manifest & { data: Record<string, string> }>(manifests, 'ConfigMap').data['berth.yaml']!) as unknown;
    expect(settings).toEqual({
      server: { port: 5000, workers: 1, trustProxy: true, publicUrl: 'https://registry.example.com', shutdownTimeoutMs: 25000 },
      database: { poolSize: 10 },
      storage: { driver: 's3', s3: { endpoint: 'https://s3.example.com', region: 'us-east-1', bucket: 'berth', prefix: 'berth/', forcePathStyle: true } },
    });
  });

  it('existingSecret replaces the chart’s Secret; config merges extra settings; a missing bucket is refused', () => {
    const { manifests } = render(values({ mode: 'scale-out', existingSecret: 'mine', s3: { bucket: 'b' }, config: { log: { level: 'debug' } } }));
    expect(manifests.some((m) => m.kind === 'Secret')).toBe(false);
    const d = one<Workload>(manifests, 'Deployment');
    expect((d.spec.template.spec.containers[0] as { envFrom: unknown }).envFrom).toEqual([{ secretRef: { name: 'mine' } }]);
    const cm = one<Manifest & { data: Record<string, string> }>(manifests, 'ConfigMap');
    expect((parse(cm.data['berth.yaml']!) as { log: unknown }).log).toEqual({ level: 'debug' });
    expect(() => render(values({ mode: 'scale-out', database: { url: 'postgres://x@db/b' } }))).toThrow(TemplateError);
    expect(() => render(values({ mode: 'scale-out', database: { url: 'postgres://x@db/b' } }))).toThrow('required: s3.bucket is required in mode scale-out');
  });
});
