import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';

const docs = new URL('../../docs/', import.meta.url);
const read = (path: string) => readFile(new URL(path, docs), 'utf8');

/** Directives only: comments and blank lines dropped, whitespace normalised. */
function directives(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim().replace(/\s+/g, ' '))
    .filter((l) => l !== '');
}

/** The parts of the Kubernetes objects the test looks at. */
interface K8sObject {
  kind: string;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: {
    template?: {
      spec: {
        terminationGracePeriodSeconds: number;
        containers: Array<{
          readinessProbe: { httpGet: { path: string } };
          livenessProbe: { httpGet: { path: string } };
          lifecycle: { preStop: { exec: { command: string[] } } };
        }>;
      };
    };
  };
}

describe('docs/scale-out.md examples', () => {
  it('shows the nginx files exactly as docs/examples/nginx holds them (which the multi-instance test includes)', async () => {
    const page = await read('scale-out.md');
    const blocks = [...page.matchAll(/```nginx\n([\s\S]*?)```/g)].map((m) => directives(m[1]!));
    expect(blocks).toEqual([directives(await read('examples/nginx/berth.conf')), directives(await read('examples/nginx/berth-proxy.conf'))]);
  });

  it('has a Kubernetes sketch whose Berth config passes the schema and whose probes and grace period fit', async () => {
    const documents = parseAllDocuments(await read('examples/kubernetes/berth.yaml')).map((d) => d.toJS() as K8sObject);
    expect(documents.map((d) => d.kind)).toEqual(['Secret', 'ConfigMap', 'Deployment', 'Service', 'Ingress', 'PodDisruptionBudget']);
    const [secret, configMap, deployment] = documents as [K8sObject, K8sObject, K8sObject];
    const env = secret.stringData!;

    const dir = await mkdtemp(join(tmpdir(), 'berth-k8s-'));
    try {
      const file = join(dir, 'berth.yaml');
      await writeFile(file, configMap.data!['berth.yaml']!);
      const config = loadConfig({ file, env });
      expect(config).toMatchObject({ server: { trustProxy: true, workers: 1 }, storage: { driver: 's3' }, database: { url: env.BERTH_DATABASE_URL } });
      expect(config.storage.s3.secretAccessKey).toBe(env.BERTH_STORAGE_S3_SECRET_ACCESS_KEY);

      const pod = deployment.spec!.template!.spec;
      const container = pod.containers[0]!;
      expect(container.readinessProbe.httpGet.path).toBe('/readyz');
      expect(container.livenessProbe.httpGet.path).toBe('/healthz');
      const preStopSeconds = Number(container.lifecycle.preStop.exec.command[1]);
      expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(config.server.shutdownTimeoutMs + preStopSeconds * 1000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
