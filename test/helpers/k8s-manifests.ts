import ajvModule from 'ajv';
import type { ErrorObject } from 'ajv';
import { parseAllDocuments } from 'yaml';

/**
 * Checks rendered Kubernetes manifests without a cluster. The schemas below are written by hand
 * from the Kubernetes API reference (v1.32) for the kinds and fields Berth's deploy files use:
 * required fields, types, and no unknown fields (a misspelt `readinesProbe` fails). They are not
 * the API server's OpenAPI document, which cannot be fetched here; `kubectl apply --dry-run=server`
 * on a cluster checks the rest.
 */

type Schema = Record<string, unknown>;
const str = { type: 'string' };
const int = { type: 'integer' };
const bool = { type: 'boolean' };
const strMap = { type: 'object', additionalProperties: str };
// Secret data: base64, which the API server decodes skipping line breaks (kustomize folds long values).
const intOrStr = { type: ['integer', 'string'] };
const quantity = { type: ['string', 'number'], pattern: '^[0-9]+(\\.[0-9]+)?(m|Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$' };
const strict = (properties: Record<string, unknown>, required: string[] = []): Schema => ({ type: 'object', additionalProperties: false, properties, required });
const list = (items: unknown, minItems = 0): Schema => ({ type: 'array', items, minItems });

const dns1123 = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$', maxLength: 253 };
const metadata = strict({ name: dns1123, namespace: dns1123, labels: strMap, annotations: strMap }, ['name']);
const labelSelector = strict({ matchLabels: strMap, matchExpressions: list({ type: 'object' }) });
const httpGet = strict({ path: str, port: intOrStr, host: str, scheme: { enum: ['HTTP', 'HTTPS'] }, httpHeaders: list({ type: 'object' }) }, ['port']);
const probe = strict(
  {
    httpGet,
    exec: strict({ command: list(str, 1) }),
    tcpSocket: strict({ port: intOrStr }),
    initialDelaySeconds: int,
    periodSeconds: int,
    timeoutSeconds: int,
    successThreshold: int,
    failureThreshold: int,
    terminationGracePeriodSeconds: int,
  },
);
const resources = strict({ requests: { type: 'object', additionalProperties: quantity }, limits: { type: 'object', additionalProperties: quantity } });
const container = strict(
  {
    name: dns1123,
    image: { type: 'string', minLength: 1 },
    imagePullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
    command: list(str),
    args: list(str),
    workingDir: str,
    ports: list(strict({ name: { type: 'string', maxLength: 15 }, containerPort: int, protocol: { enum: ['TCP', 'UDP', 'SCTP'] }, hostPort: int }, ['containerPort'])),
    env: list(strict({ name: str, value: str, valueFrom: { type: 'object' } }, ['name'])),
    envFrom: list(strict({ secretRef: strict({ name: str, optional: bool }, ['name']), configMapRef: strict({ name: str, optional: bool }, ['name']), prefix: str })),
    volumeMounts: list(strict({ name: str, mountPath: str, readOnly: bool, subPath: str }, ['name', 'mountPath'])),
    startupProbe: probe,
    readinessProbe: probe,
    livenessProbe: probe,
    lifecycle: strict({ preStop: strict({ exec: strict({ command: list(str, 1) }), sleep: strict({ seconds: int }) }), postStart: { type: 'object' } }),
    resources,
    securityContext: strict({
      allowPrivilegeEscalation: bool,
      readOnlyRootFilesystem: bool,
      runAsNonRoot: bool,
      runAsUser: int,
      runAsGroup: int,
      privileged: bool,
      capabilities: strict({ drop: list(str), add: list(str) }),
      seccompProfile: strict({ type: str }),
    }),
  },
  ['name', 'image'],
);
const volume = strict(
  {
    name: dns1123,
    configMap: strict({ name: str, items: list({ type: 'object' }), defaultMode: int, optional: bool }),
    secret: strict({ secretName: str, items: list({ type: 'object' }), defaultMode: int, optional: bool }),
    emptyDir: strict({ medium: str, sizeLimit: quantity }),
    persistentVolumeClaim: strict({ claimName: str, readOnly: bool }, ['claimName']),
  },
  ['name'],
);
const podSpec = strict(
  {
    serviceAccountName: str,
    automountServiceAccountToken: bool,
    imagePullSecrets: list(strict({ name: str }, ['name'])),
    terminationGracePeriodSeconds: int,
    securityContext: strict({
      runAsNonRoot: bool,
      runAsUser: int,
      runAsGroup: int,
      fsGroup: int,
      fsGroupChangePolicy: { enum: ['OnRootMismatch', 'Always'] },
      seccompProfile: strict({ type: { enum: ['RuntimeDefault', 'Localhost', 'Unconfined'] }, localhostProfile: str }, ['type']),
    }),
    containers: list(container, 1),
    initContainers: list(container),
    volumes: list(volume),
    nodeSelector: strMap,
    tolerations: list({ type: 'object' }),
    affinity: { type: 'object' },
    topologySpreadConstraints: list(strict({ maxSkew: int, topologyKey: str, whenUnsatisfiable: { enum: ['DoNotSchedule', 'ScheduleAnyway'] }, labelSelector }, ['maxSkew', 'topologyKey', 'whenUnsatisfiable'])),
  },
  ['containers'],
);
const podTemplate = strict({ metadata: strict({ labels: strMap, annotations: strMap }), spec: podSpec }, ['metadata', 'spec']);
const pvcSpec = strict({ accessModes: list(str, 1), storageClassName: str, resources: strict({ requests: strict({ storage: quantity }, ['storage']) }, ['requests']) }, ['accessModes', 'resources']);

const top = (apiVersion: string, kind: string, spec: Record<string, unknown>, required: string[]): Schema =>
  strict({ apiVersion: { const: apiVersion }, kind: { const: kind }, metadata, ...spec }, ['apiVersion', 'kind', 'metadata', ...required]);

export const schemas: Record<string, Schema> = {
  Namespace: top('v1', 'Namespace', {}, []),
  ServiceAccount: top('v1', 'ServiceAccount', { automountServiceAccountToken: bool, imagePullSecrets: list(strict({ name: str }, ['name'])) }, []),
  ConfigMap: top('v1', 'ConfigMap', { data: strMap }, []),
  Secret: top('v1', 'Secret', { type: str, data: { type: ['object', 'null'], additionalProperties: { type: 'string', pattern: '^[A-Za-z0-9+/\\n]*=*\\n?$' } }, stringData: strMap }, []),
  Service: top('v1', 'Service', {
    spec: strict({
      type: { enum: ['ClusterIP', 'NodePort', 'LoadBalancer'] },
      clusterIP: str,
      selector: strMap,
      ports: list(strict({ name: str, port: int, targetPort: intOrStr, protocol: { enum: ['TCP', 'UDP', 'SCTP'] }, nodePort: int }, ['port']), 1),
    }, ['ports']),
  }, ['spec']),
  Deployment: top('apps/v1', 'Deployment', {
    spec: strict({
      replicas: int,
      selector: labelSelector,
      strategy: strict({ type: { enum: ['RollingUpdate', 'Recreate'] }, rollingUpdate: strict({ maxUnavailable: intOrStr, maxSurge: intOrStr }) }),
      template: podTemplate,
      revisionHistoryLimit: int,
      minReadySeconds: int,
    }, ['selector', 'template']),
  }, ['spec']),
  StatefulSet: top('apps/v1', 'StatefulSet', {
    spec: strict({
      replicas: int,
      serviceName: str,
      selector: labelSelector,
      podManagementPolicy: { enum: ['OrderedReady', 'Parallel'] },
      updateStrategy: strict({ type: { enum: ['RollingUpdate', 'OnDelete'] }, rollingUpdate: { type: 'object' } }),
      template: podTemplate,
      volumeClaimTemplates: list(strict({ metadata: strict({ name: dns1123, labels: strMap, annotations: strMap }, ['name']), spec: pvcSpec }, ['metadata', 'spec'])),
    }, ['selector', 'template']),
  }, ['spec']),
  Ingress: top('networking.k8s.io/v1', 'Ingress', {
    spec: strict({
      ingressClassName: str,
      tls: list(strict({ hosts: list(str), secretName: str })),
      rules: list(strict({
        host: str,
        http: strict({
          paths: list(strict({
            path: str,
            pathType: { enum: ['Prefix', 'Exact', 'ImplementationSpecific'] },
            backend: strict({ service: strict({ name: str, port: strict({ name: str, number: int }) }, ['name', 'port']) }, ['service']),
          }, ['pathType', 'backend']), 1),
        }, ['paths']),
      })),
    }),
  }, ['spec']),
  PodDisruptionBudget: top('policy/v1', 'PodDisruptionBudget', {
    spec: { ...strict({ minAvailable: intOrStr, maxUnavailable: intOrStr, selector: labelSelector }, ['selector']), oneOf: [{ required: ['minAvailable'] }, { required: ['maxUnavailable'] }] },
  }, ['spec']),
  ServiceMonitor: top('monitoring.coreos.com/v1', 'ServiceMonitor', {
    spec: strict({ selector: labelSelector, endpoints: list(strict({ port: str, path: str, interval: str, scheme: str }, ['port']), 1) }, ['selector', 'endpoints']),
  }, ['spec']),
};

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

const Ajv = ajvModule.default;
const ajv = new Ajv({ allErrors: true, strict: false });
const validators: Record<string, ReturnType<typeof ajv.compile> | undefined> = Object.fromEntries(Object.entries(schemas).map(([kind, schema]) => [kind, ajv.compile(schema)]));

/** Parses a multi-document YAML stream; empty documents (helm's skipped templates) are dropped. */
export function parseManifests(text: string): Manifest[] {
  const docs = parseAllDocuments(text);
  const out: Manifest[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`invalid YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as Manifest | null;
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

/** Schema errors of each manifest, as `Kind/name: /path message` lines (empty: all valid). */
export function schemaErrors(manifests: Manifest[]): string[] {
  const errors: string[] = [];
  for (const m of manifests) {
    const validate = validators[m.kind];
    if (validate === undefined) {
      errors.push(`${String(m.kind)}/${String(m.metadata?.name)}: no schema for kind ${String(m.kind)}`);
      continue;
    }
    if (!validate(m)) {
      for (const e of validate.errors as ErrorObject[]) errors.push(`${m.kind}/${m.metadata?.name}: ${e.instancePath} ${e.message}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`);
    }
  }
  return errors;
}

type Pod = { metadata: { labels: Record<string, string> }; spec: { containers: Array<Record<string, unknown>>; volumes?: Array<Record<string, unknown>>; serviceAccountName?: string; imagePullSecrets?: Array<{ name: string }> } };
export type Workload = Manifest & { spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; template: Pod; volumeClaimTemplates?: Array<{ metadata: { name: string } }>; serviceName?: string } };

/** Cross-object checks a schema cannot make: every reference names an object that is there. */
export function referenceErrors(manifests: Manifest[]): string[] {
  const errors: string[] = [];
  const names = (kind: string) => new Set(manifests.filter((m) => m.kind === kind).map((m) => m.metadata.name));
  const secrets = names('Secret');
  const configMaps = names('ConfigMap');
  const services = names('Service');
  const accounts = names('ServiceAccount');
  const workloads = manifests.filter((m) => m.kind === 'Deployment' || m.kind === 'StatefulSet') as Workload[];
  const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
    Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
  for (const w of workloads) {
    const id = `${w.kind}/${w.metadata.name}`;
    const pod = w.spec.template;
    if (!matches(w.spec.selector.matchLabels, pod.metadata.labels)) errors.push(`${id}: selector does not match the pod labels`);
    if (pod.spec.serviceAccountName && !accounts.has(pod.spec.serviceAccountName)) errors.push(`${id}: ServiceAccount ${pod.spec.serviceAccountName} missing`);
    const volumes = new Set([...(pod.spec.volumes ?? []).map((v) => v.name as string), ...(w.spec.volumeClaimTemplates ?? []).map((v) => v.metadata.name)]);
    for (const v of pod.spec.volumes ?? []) {
      const cm = (v.configMap as { name?: string } | undefined)?.name;
      if (cm && !configMaps.has(cm)) errors.push(`${id}: ConfigMap ${cm} missing`);
      const secret = (v.secret as { secretName?: string } | undefined)?.secretName;
      if (secret && !secrets.has(secret)) errors.push(`${id}: Secret ${secret} missing`);
    }
    for (const c of pod.spec.containers) {
      for (const ref of (c.envFrom as Array<{ secretRef?: { name: string } }> | undefined) ?? []) {
        if (ref.secretRef && !secrets.has(ref.secretRef.name)) errors.push(`${id}: Secret ${ref.secretRef.name} missing`);
      }
      for (const mount of (c.volumeMounts as Array<{ name: string }> | undefined) ?? []) {
        if (!volumes.has(mount.name)) errors.push(`${id}: volume ${mount.name} is mounted but not declared`);
      }
      const portNames = new Set(((c.ports as Array<{ name?: string }> | undefined) ?? []).map((p) => p.name));
      for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        const port = (c[probe] as { httpGet?: { port: string | number } } | undefined)?.httpGet?.port;
        if (typeof port === 'string' && !portNames.has(port)) errors.push(`${id}: ${probe} names port ${port}, which the container lacks`);
      }
    }
    if (w.kind === 'StatefulSet' && w.spec.serviceName && !services.has(w.spec.serviceName)) errors.push(`${id}: Service ${w.spec.serviceName} missing`);
  }
  for (const s of manifests.filter((m) => m.kind === 'Service') as Array<Manifest & { spec: { selector?: Record<string, string> } }>) {
    if (!workloads.some((w) => matches(s.spec.selector ?? {}, w.spec.template.metadata.labels))) errors.push(`Service/${s.metadata.name}: selects no pod`);
  }
  for (const i of manifests.filter((m) => m.kind === 'Ingress') as Array<Manifest & { spec: { rules: Array<{ http: { paths: Array<{ backend: { service: { name: string } } }> } }> } }>) {
    for (const rule of i.spec.rules) for (const p of rule.http.paths) if (!services.has(p.backend.service.name)) errors.push(`Ingress/${i.metadata.name}: Service ${p.backend.service.name} missing`);
  }
  for (const p of manifests.filter((m) => m.kind === 'PodDisruptionBudget' || m.kind === 'ServiceMonitor') as Array<Manifest & { spec: { selector: { matchLabels: Record<string, string> } } }>) {
    const target = p.kind === 'ServiceMonitor'
      ? (manifests.filter((m) => m.kind === 'Service') as Manifest[]).some((s) => matches(p.spec.selector.matchLabels, s.metadata.labels ?? {}))
      : workloads.some((w) => matches(p.spec.selector.matchLabels, w.spec.template.metadata.labels));
    if (!target) errors.push(`${p.kind}/${p.metadata.name}: selects nothing`);
  }
  return errors;
}
