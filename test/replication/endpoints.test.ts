import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/adapters/db/connect.js';
import { ApiClient } from '../helpers/api.js';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';

/** SHA-256 / HMAC for the signer, from node:crypto. */
class Sha256 {
  private readonly hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    const key = secret === undefined || typeof secret === 'string' ? secret : secret instanceof ArrayBuffer ? new Uint8Array(secret) : new Uint8Array(secret.buffer, secret.byteOffset, secret.byteLength);
    this.hash = key === undefined ? createHash('sha256') : createHmac('sha256', key);
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(typeof data === 'string' ? data : data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
}

interface Endpoint {
  id: number;
  name: string;
  kind: string;
  url: string;
  username: string | null;
  hasSecret: boolean;
}
interface Check {
  ok: boolean;
  failure?: string;
  message: string;
  status?: number;
}

const upstreamSecret = 'Admin-Passw0rd';

async function sealedSecrets(databaseUrl: string): Promise<Array<string | null>> {
  const database = connect({ url: databaseUrl, poolSize: 1 });
  try {
    return (await database.db.selectFrom('registry_endpoint').select('secret_sealed').orderBy('id').execute()).map((r) => r.secret_sealed);
  } finally {
    await database.db.destroy();
  }
}

describe('registry endpoints', () => {
  let upstream: TestBerth;
  let berth: TestBerth;
  let admin: ApiClient;

  beforeAll(async () => {
    upstream = await startTestBerth();
    berth = await startTestBerth({ settings: { 'outbound.replication.allowCidrs': ['127.0.0.0/8'] } });
    admin = new ApiClient(berth.url);
  });
  afterAll(async () => {
    await berth?.stop();
    await upstream?.stop();
  });

  it('stores the secret encrypted, never shows it, and tests the connection', async () => {
    const created = await admin.ok<Endpoint & Record<string, unknown>>('POST', '/registries', { name: 'other', kind: 'berth', url: `${upstream.url}/`, username: 'admin', secret: upstreamSecret });
    expect(created).toMatchObject({ name: 'other', kind: 'berth', url: upstream.url, username: 'admin', hasSecret: true });
    expect(JSON.stringify(created)).not.toContain(upstreamSecret);
    expect(JSON.stringify(await admin.ok('GET', `/registries/${created.id}`))).not.toContain(upstreamSecret);
    const [sealed] = await sealedSecrets(berth.config.database.url);
    expect(sealed).toMatch(/^v1:[0-9a-f]{12}:[\w-]+:[\w-]+:[\w-]+$/);
    expect(sealed).not.toContain(upstreamSecret);
    expect(sealed).not.toContain(Buffer.from(upstreamSecret).toString('base64'));
    // The key was made in the data directory, for the owner only.
    expect((await stat(join(berth.dataDir, 'secrets.key'))).mode & 0o777).toBe(0o600);

    expect(await admin.ok<Check>('POST', `/registries/${created.id}/ping`)).toMatchObject({ ok: true });
    await admin.ok('PATCH', `/registries/${created.id}`, { secret: 'not-the-password' });
    const wrong = await admin.ok<Check>('POST', `/registries/${created.id}/ping`);
    expect(wrong).toMatchObject({ ok: false, failure: 'unauthorized', status: 401 });
    expect(wrong.message).not.toContain('not-the-password');
    // Unsaved settings, as the console's form tests them.
    expect(await admin.ok<Check>('POST', '/registries/ping', { kind: 'oci', url: upstream.url, username: 'admin', secret: upstreamSecret })).toMatchObject({ ok: true });
    const nothing = await admin.ok<Check>('POST', '/registries/ping', { kind: 'oci', url: `${upstream.url}/not-a-registry` });
    expect(nothing).toMatchObject({ ok: false, failure: 'not-found' });
    expect(nothing.message).toMatch(/not a registry's/);

    const audit = await admin.ok<{ items: Array<{ action: string; resource: string }> }>('GET', '/audit-logs?page_size=50');
    expect(audit.items.filter((e) => e.action.startsWith('registry.')).map((e) => e.action)).toEqual(['registry.update', 'registry.create']);
    expect(JSON.stringify(audit.items)).not.toContain(upstreamSecret);
  });

  it('fills in well-known addresses, and refuses bad input with a clear error', async () => {
    const hub = await admin.ok<Endpoint>('POST', '/registries', { name: 'hub', kind: 'docker-hub' });
    expect(hub.url).toBe('https://registry-1.docker.io');
    expect(hub.hasSecret).toBe(false);
    const cases: Array<[Record<string, unknown>, number, RegExp]> = [
      [{ name: 'hub', kind: 'docker-hub' }, 409, /already exists/],
      [{ name: 'h', kind: 'harbor' }, 400, /Harbor endpoint needs its url/],
      [{ name: 'f', kind: 'oci', url: 'ftp://example.com' }, 400, /http or https/],
      [{ name: 'c', kind: 'oci', url: 'https://user:pw@example.com' }, 400, /must not hold credentials/],
      [{ name: 'bad name!', kind: 'oci', url: 'https://example.com' }, 400, /name/],
      [{ name: 'k', kind: 'nexus', url: 'https://example.com' }, 400, /kind/],
    ];
    for (const [body, status, message] of cases) {
      const res = await admin.call('POST', '/registries', body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(JSON.stringify(await res.json())).toMatch(message);
    }
    await admin.ok('DELETE', `/registries/${hub.id}`);
    expect((await admin.call('GET', `/registries/${hub.id}`)).status).toBe(404);
  });

  it('is for system administrators only', async () => {
    await admin.createUser('dev', 'Dev-Passw0rd');
    const dev = new ApiClient(berth.url, { username: 'dev', password: 'Dev-Passw0rd' });
    expect((await dev.call('GET', '/registries')).status).toBe(403);
    expect((await dev.call('POST', '/registries', { name: 'x', kind: 'docker-hub' })).status).toBe(403);
  });
});

const opensslMissing = !existsSync('/usr/bin/openssl');
if (opensslMissing) console.warn('SKIPPED: openssl is missing (Debian: apt-get install -y openssl); per-endpoint TLS is not checked');

describe.skipIf(opensslMissing)('registry endpoints with their own TLS trust', () => {
  let berth: TestBerth;
  let admin: ApiClient;
  let server: Server;
  let url: string;
  let certificate: string;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-tls-'));
    // A registry with a self-signed certificate, as an internal Harbor often has.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    certificate = await readFile(join(dir, 'cert.pem'), 'utf8');
    server = createHttpsServer({ key: await readFile(join(dir, 'key.pem')), cert: certificate }, (req, res) => {
      res.writeHead(req.url === '/v2/' ? 200 : 404, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' }).end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    berth = await startTestBerth({ settings: { 'outbound.replication.allowCidrs': ['127.0.0.0/8'] } });
    admin = new ApiClient(berth.url);
  });
  afterAll(async () => {
    await berth?.stop();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses an unknown certificate, trusts the endpoint\'s CA when given, or verifies nothing when told', async () => {
    const plain = await admin.ok<Endpoint>('POST', '/registries', { name: 'private-ca', kind: 'oci', url });
    const refused = await admin.ok<Check>('POST', `/registries/${plain.id}/ping`);
    expect(refused.ok).toBe(false);
    expect(refused.failure).toBe('tls');
    expect(refused.message).toMatch(/^TLS with 127\.0\.0\.1:\d+ failed \((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)\): check the certificate; give the endpoint its CA \(caCertificate\)/);

    const trusted = await admin.ok<Endpoint & { caCertificate: string | null; insecure: boolean }>('PATCH', `/registries/${plain.id}`, { caCertificate: certificate });
    expect(trusted.caCertificate).toBe(certificate.trim());
    expect(trusted.insecure).toBe(false);
    expect((await admin.ok<Check>('POST', `/registries/${plain.id}/ping`)).ok).toBe(true);

    const insecure = await admin.ok<Endpoint>('POST', '/registries', { name: 'no-verify', kind: 'oci', url, insecure: true });
    expect((await admin.ok<Check>('POST', `/registries/${insecure.id}/ping`)).ok).toBe(true);
    // The form's "test connection" before saving takes the same settings.
    expect((await admin.ok<Check>('POST', '/registries/ping', { kind: 'oci', url, caCertificate: certificate })).ok).toBe(true);
    expect((await admin.ok<Check>('POST', '/registries/ping', { kind: 'oci', url })).failure).toBe('tls');

    const bad = await admin.call('POST', '/registries', { name: 'bad-ca', kind: 'oci', url, caCertificate: 'not a certificate' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { title: string }).title).toBe('caCertificate must be PEM certificates (-----BEGIN CERTIFICATE----- …), at most 50, and nothing else');
  });
});

describe('Amazon ECR endpoints given an access key', () => {
  const accessKeyId = 'AKIAIOSFODNN7EXAMPLE';
  const secretAccessKey = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  const registryPassword = 'Ecr-Token-Passw0rd-1';
  let upstream: TestBerth;
  let berth: TestBerth;
  let admin: ApiClient;
  let ecrApi: HttpServer;
  const calls: Array<{ target: string | undefined; contentType: string | undefined; body: string; signatureValid: boolean; credentialScope: string }> = [];

  beforeAll(async () => {
    // The registry: another Berth with the user ECR tokens name (AWS).
    upstream = await startTestBerth();
    await new ApiClient(upstream.url).createUser('AWS', registryPassword);
    // A stand-in for ECR's API, from its documented GetAuthorizationToken (JSON 1.1, SigV4): it
    // checks the signature by signing the same request again with the secret key.
    ecrApi = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const authorization = String(req.headers.authorization ?? '');
        const amzDate = String(req.headers['x-amz-date'] ?? '');
        const signedHeaders = /SignedHeaders=([^,]+)/.exec(authorization)?.[1]?.split(';') ?? [];
        const signer = new SignatureV4({ service: 'ecr', region: 'eu-west-1', credentials: { accessKeyId, secretAccessKey }, sha256: Sha256 });
        const headers = Object.fromEntries(signedHeaders.map((name) => [name, String(req.headers[name] ?? '')]));
        const signingDate = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
        void signer
          .sign({ method: req.method!, protocol: 'http:', hostname: '127.0.0.1', path: req.url!, headers, body }, { signingDate })
          .then((expected) => {
            const signatureValid = expected.headers.authorization === authorization;
            calls.push({ target: req.headers['x-amz-target'] as string | undefined, contentType: req.headers['content-type'], body, signatureValid, credentialScope: /Credential=([^,]+)/.exec(authorization)?.[1] ?? '' });
            if (!signatureValid) return res.writeHead(403, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify({ __type: 'InvalidSignatureException', message: 'The request signature we calculated does not match' }));
            const token = Buffer.from(`AWS:${registryPassword}`).toString('base64');
            res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify({ authorizationData: [{ authorizationToken: token, expiresAt: Date.now() / 1000 + 12 * 3600, proxyEndpoint: upstream.url }] }));
          });
      });
    });
    await new Promise<void>((resolve) => ecrApi.listen(0, '127.0.0.1', resolve));
    const apiUrl = `http://127.0.0.1:${(ecrApi.address() as AddressInfo).port}`;
    berth = await startTestBerth({ settings: { 'outbound.replication.allowCidrs': ['127.0.0.0/8'], 'replication.ecr.apiUrl': apiUrl, 'replication.ecr.region': 'eu-west-1' } });
    admin = new ApiClient(berth.url);
  });
  afterAll(async () => {
    await berth?.stop();
    await upstream?.stop();
    ecrApi?.closeAllConnections();
    await new Promise((resolve) => ecrApi?.close(resolve));
  });

  it('exchanges the key for a registry token with a signed GetAuthorizationToken, and reuses it', async () => {
    const endpoint = await admin.ok<Endpoint>('POST', '/registries', { name: 'ecr', kind: 'ecr', url: upstream.url, username: accessKeyId, secret: secretAccessKey });
    expect(await admin.ok<Check>('POST', `/registries/${endpoint.id}/ping`)).toMatchObject({ ok: true, message: 'the registry answered and accepted the credentials' });
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ target: 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken', contentType: 'application/x-amz-json-1.1', body: '{}', signatureValid: true });
    expect(calls[0]!.credentialScope).toMatch(/^AKIAIOSFODNN7EXAMPLE\/\d{8}\/eu-west-1\/ecr\/aws4_request$/);
    // The token lasts 12 hours: a second use does not ask again.
    expect((await admin.ok<Check>('POST', `/registries/${endpoint.id}/ping`)).ok).toBe(true);
    expect(calls).toHaveLength(1);
  });

  it('says what is wrong when ECR refuses the key', async () => {
    const check = await admin.ok<Check>('POST', '/registries/ping', { kind: 'ecr', url: upstream.url, username: accessKeyId, secret: 'not-the-secret' });
    expect(check.ok).toBe(false);
    expect(check.failure).toBe('unauthorized');
    expect(check.message).toBe('ECR refused the access key (InvalidSignatureException: The request signature we calculated does not match): check the access key and that it may call ecr:GetAuthorizationToken');
    // A token from `aws ecr get-login-password` (user AWS) is used as it is.
    const given = await admin.ok<Check>('POST', '/registries/ping', { kind: 'ecr', url: upstream.url, username: 'AWS', secret: registryPassword });
    expect(given.ok).toBe(true);
    expect(calls.filter((c) => c.signatureValid)).toHaveLength(1);
  });
});

describe('registry endpoints on internal addresses', () => {
  let berth: TestBerth;

  beforeAll(async () => {
    berth = await startTestBerth();
  });
  afterAll(async () => {
    await berth?.stop();
  });

  it('refuses loopback, private, link-local and mapped addresses by default, naming the setting', async () => {
    const admin = new ApiClient(berth.url);
    for (const url of ['http://127.0.0.1:5000', 'http://localhost:5000', 'http://[::ffff:127.0.0.1]:5000', 'http://0x7f000001', 'http://10.1.2.3', 'http://169.254.169.254', 'http://[fd00::1]']) {
      const res = await admin.call('POST', '/registries', { name: 'internal', kind: 'oci', url });
      expect(res.status, url).toBe(400);
      const body = (await res.json()) as { title: string };
      expect(body.title, url).toMatch(/^endpoint url blocked by policy: .* (loopback|private|link-local|unique-local) address.*outbound\.replication\.allowCidrs/);
    }
    expect((await admin.ok<{ items: unknown[] }>('GET', '/registries')).items).toEqual([]);
  });
});

describe('the key that seals endpoint credentials', () => {
  let dir: string;
  const keyA = 'a'.repeat(40);
  const keyB = 'b'.repeat(40);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-secrets-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('rotates: the old key reads, everything is sealed again with the new one, and a missing key is named', async () => {
    const upstream = await startTestBerth();
    const start = (settings: Record<string, unknown>) => startTestBerth({ dataDir: dir, settings: { 'outbound.replication.allowCidrs': ['127.0.0.0/8'], ...settings } });
    try {
      let berth = await start({ 'secrets.encryptionKey': keyA });
      const endpoint = await new ApiClient(berth.url).ok<Endpoint>('POST', '/registries', { name: 'up', kind: 'berth', url: upstream.url, username: 'admin', secret: upstreamSecret });
      const databaseUrl = berth.config.database.url;
      await berth.stop();
      const [sealedA] = await sealedSecrets(databaseUrl);

      berth = await start({ 'secrets.encryptionKey': keyB, 'secrets.previousKeys': [keyA] });
      const [sealedB] = await sealedSecrets(databaseUrl);
      expect(sealedB!.split(':')[1]).not.toBe(sealedA!.split(':')[1]);
      expect(await new ApiClient(berth.url).ok<Check>('POST', `/registries/${endpoint.id}/ping`)).toMatchObject({ ok: true });
      await berth.stop();

      // The old key can go now; without the new one the secret cannot be read, and the error says why.
      berth = await start({ 'secrets.encryptionKey': keyB });
      expect(await new ApiClient(berth.url).ok<Check>('POST', `/registries/${endpoint.id}/ping`)).toMatchObject({ ok: true });
      await berth.stop();
      berth = await start({ 'secrets.encryptionKey': keyA });
      const res = await new ApiClient(berth.url).call('POST', `/registries/${endpoint.id}/ping`);
      expect(res.status).toBe(503);
      expect(((await res.json()) as { title: string }).title).toMatch(/^the credentials of registry endpoint up cannot be read: a stored secret was encrypted with key [0-9a-f]{12}, which this instance does not have: set secrets\.encryptionKey/);
      await berth.stop();
      // No key file was made: the key came from the configuration.
      await expect(readFile(join(dir, 'secrets.key'))).rejects.toThrow(/ENOENT/);
    } finally {
      await upstream.stop();
    }
  });
});
