import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCidr } from '../../src/domain/address-ranges.js';
import { OutboundClient, type OutboundClientOptions } from '../../src/adapters/outbound/outbound-client.js';
import { OutboundBlockedError, type OutboundFeature } from '../../src/ports/outbound.js';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient } from '../helpers/api.js';
import { RegistryClient } from '../helpers/oci.js';

/** A server that counts what reaches it; `redirectTo` makes it answer 307 there. */
async function listener(host: string, redirectTo?: () => string): Promise<{ server: Server; port: number; hits: string[]; close: () => Promise<void> }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.method} ${req.headers.host}${req.url}`);
    req.resume();
    if (redirectTo) {
      res.writeHead(307, { Location: redirectTo() });
      res.end();
    } else res.end('reached');
  });
  await new Promise<void>((resolve) => server.listen({ host, port: 0, ipv6Only: false }, resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Every spelling of "this machine" a URL parser, a resolver or the kernel accepts. */
function spellings(port: number): string[] {
  return [
    `http://127.0.0.1:${port}/`,
    `http://localhost:${port}/`,
    `http://[::ffff:127.0.0.1]:${port}/`,
    `http://[::ffff:7f00:1]:${port}/`,
    `http://[0:0:0:0:0:ffff:127.0.0.1]:${port}/`,
    `http://0x7f000001:${port}/`,
    `http://2130706433:${port}/`,
    `http://0177.0.0.1:${port}/`,
    `http://127.1:${port}/`,
    `http://127.0.0.2:${port}/`,
    `http://[::1]:${port}/`,
    `http://0.0.0.0:${port}/`,
    `http://[::]:${port}/`,
  ];
}

/** What the loopback spellings need allowed to pass (0.0.0.0 and :: reach the local host on Linux). */
const loopbackAllow = ['127.0.0.0/8', '::1/128', '0.0.0.0/8', '::/128'];

function client(allow: string[] = [], resolve?: OutboundClientOptions['resolve']): OutboundClient {
  const cidrs = allow.map((c) => parseCidr(c)!);
  return new OutboundClient({
    allowed: (_feature: OutboundFeature) => cidrs,
    timeoutMs: 5000,
    maxResponseBytes: 1024,
    maxRedirects: 5,
    userAgent: 'Berth-test',
    ...(resolve ? { resolve } : {}),
  });
}

describe('the outbound-request policy', () => {
  let target: Awaited<ReturnType<typeof listener>>;

  beforeAll(async () => {
    // Listens on every address of the machine, IPv4 and IPv6, so any spelling that gets through arrives.
    target = await listener('::');
  });
  afterAll(async () => {
    await target?.close();
  });

  it('lets no spelling of loopback reach a listener by default, and every one once allowed', async () => {
    const strict = client();
    for (const url of spellings(target.port)) {
      await expect(strict.request('webhook', url), url).rejects.toBeInstanceOf(OutboundBlockedError);
      await expect(strict.check('webhook', url), url).rejects.toBeInstanceOf(OutboundBlockedError);
    }
    expect(target.hits).toEqual([]);
    await strict.close();

    const allowing = client(loopbackAllow);
    for (const url of spellings(target.port)) {
      const res = await allowing.request('webhook', url);
      expect(res.status, url).toBe(200);
      expect(await res.text(), url).toBe('reached');
    }
    expect(target.hits).toHaveLength(spellings(target.port).length);
    await allowing.close();
    target.hits.length = 0;
  });

  it('names the address class and the setting, and never the address a name resolved to', async () => {
    const strict = client();
    await expect(strict.request('webhook', `http://0x7f000001:${target.port}/`)).rejects.toThrow(
      'blocked by policy: 127.0.0.1 is a loopback address, which webhook requests may not reach; an administrator can allow it with the setting outbound.webhook.allowCidrs (or outbound.allowCidrs for every feature)',
    );
    await expect(strict.request('proxyCache', 'http://169.254.169.254/latest/meta-data/')).rejects.toThrow('blocked by policy: 169.254.169.254 is a link-local address');
    await expect(strict.request('replication', 'http://[fd00::1]/')).rejects.toThrow('blocked by policy: fd00::1 is a unique-local address, which replication requests');
    await expect(strict.request('scanner', 'http://10.1.2.3/')).rejects.toThrow('10.1.2.3 is a private address');
    await expect(strict.request('preheat', 'http://224.0.0.1/')).rejects.toThrow('224.0.0.1 is a multicast address');
    const err = (await strict.request('webhook', `http://localhost:${target.port}/`).then(
      () => undefined,
      (e: unknown) => e,
    )) as OutboundBlockedError;
    expect(err.message).toMatch(/^blocked by policy: localhost resolves to a loopback address, which webhook requests/);
    expect(err.message).not.toMatch(/127\.0\.0\.1|::1/);
    expect(['127.0.0.1', '::1']).toContain(err.address);
    await expect(strict.request('webhook', 'ftp://example.com/')).rejects.toThrow('blocked by policy: only http and https URLs may be requested, not ftp');
    await expect(strict.request('webhook', 'file:///etc/passwd')).rejects.toThrow('only http and https URLs');
    expect(target.hits).toEqual([]);
    await strict.close();
  });

  it('checks the address at connection time, so a name that changes its answer (DNS rebinding) is refused', async () => {
    let lookups = 0;
    const rebinding = client([], async () => (lookups++ === 0 ? [{ address: '93.184.215.14', family: 4 }] : [{ address: '127.0.0.1', family: 4 }]));
    // The check when a URL is stored sees an ordinary address...
    await rebinding.check('webhook', `http://rebind.example:${target.port}/`);
    // ...the connection gets loopback and is refused.
    await expect(rebinding.request('webhook', `http://rebind.example:${target.port}/`)).rejects.toThrow('blocked by policy: rebind.example resolves to a loopback address');
    expect(lookups).toBe(2);
    // A name with an ordinary and an internal address is refused whole.
    const mixed = client([], async () => [
      { address: '93.184.215.14', family: 4 },
      { address: '10.0.0.7', family: 4 },
    ]);
    await expect(mixed.request('webhook', `http://mixed.example:${target.port}/`)).rejects.toThrow('mixed.example resolves to a private address');
    expect(target.hits).toEqual([]);
    await Promise.all([rebinding.close(), mixed.close()]);
  });

  it('checks every redirect: an allowed receiver cannot send the request on to loopback', async () => {
    const redirector = await listener('127.0.0.2', () => `http://127.0.0.1:${target.port}/internal`);
    try {
      const onlyRedirector = client(['127.0.0.2/32']);
      await expect(onlyRedirector.request('webhook', `http://127.0.0.2:${redirector.port}/hook`, { method: 'POST', body: '{}' })).rejects.toThrow(
        'blocked by policy: 127.0.0.1 is a loopback address',
      );
      expect(redirector.hits).toEqual([`POST 127.0.0.2:${redirector.port}/hook`]);
      expect(target.hits).toEqual([]);
      await onlyRedirector.close();

      const both = client(['127.0.0.2/32', '127.0.0.1/32']);
      const res = await both.request('webhook', `http://127.0.0.2:${redirector.port}/hook`, { method: 'POST', body: '{}', headers: { authorization: 'Bearer x' } });
      expect(res.status).toBe(200);
      expect(res.url).toBe(`http://127.0.0.1:${target.port}/internal`);
      expect(target.hits).toEqual([`POST 127.0.0.1:${target.port}/internal`]);
      await both.close();
    } finally {
      await redirector.close();
      target.hits.length = 0;
    }
  });

  it('reads at most the size limit of a response body', async () => {
    const big = createServer((_req, res) => res.end('x'.repeat(10_000)));
    await new Promise<void>((resolve) => big.listen(0, '127.0.0.1', resolve));
    const allowing = client(['127.0.0.1/32']);
    try {
      const res = await allowing.request('webhook', `http://127.0.0.1:${(big.address() as AddressInfo).port}/`);
      await expect(res.text()).rejects.toThrow('the response is larger than 1024 bytes, the most Berth reads');
      const fetched = await allowing.fetchFor('oidc')(`http://127.0.0.1:${(big.address() as AddressInfo).port}/`);
      await expect(fetched.text()).rejects.toThrow('the response is larger than 1024 bytes');
    } finally {
      await allowing.close();
      big.closeAllConnections();
      await new Promise<void>((resolve) => big.close(() => resolve()));
    }
  });
});

describe('webhooks under the outbound policy', () => {
  let berth: TestBerth;
  let admin: ApiClient;
  let target: Awaited<ReturnType<typeof listener>>;
  let redirector: Awaited<ReturnType<typeof listener>>;

  beforeAll(async () => {
    target = await listener('::');
    redirector = await listener('127.0.0.2', () => `http://127.0.0.1:${target.port}/internal`);
    // The receiver on 127.0.0.2 is allowed in the config file, as an operator would allow one internal receiver.
    berth = await startTestBerth({ settings: { 'outbound.webhook.allowCidrs': ['127.0.0.2/32'], 'jobs.pollIntervalMs': 100, 'webhooks.backoffBaseMs': 100 } });
    admin = new ApiClient(berth.url);
    await admin.createProject('hooks');
  });
  afterAll(async () => {
    await berth?.stop();
    await target?.close();
    await redirector?.close();
  });

  it('refuses to store a webhook whose URL is any spelling of loopback, naming the setting', async () => {
    for (const url of spellings(target.port).filter((u) => !u.includes('127.0.0.2'))) {
      const res = await admin.call('POST', '/projects/hooks/webhooks', { name: 'probe', url, eventTypes: ['push'], format: 'harbor' });
      expect(res.status, url).toBe(400);
      const problem = (await res.json()) as { code: string; title: string };
      expect(problem.code, url).toBe('BAD_REQUEST');
      expect(problem.title, url).toMatch(/^webhook url blocked by policy: .* (is|resolves to) a (loopback|unspecified) address, which webhook requests may not reach; an administrator can allow it with the setting outbound\.webhook\.allowCidrs/);
    }
    const metadata = await admin.call('POST', '/projects/hooks/webhooks', { name: 'probe', url: 'http://169.254.169.254/latest/meta-data/', eventTypes: ['push'], format: 'harbor' });
    expect(metadata.status).toBe(400);
    expect(target.hits).toEqual([]);
    expect((await admin.ok<{ items: unknown[] }>('GET', '/projects/hooks/webhooks')).items).toEqual([]);
  });

  it('logs "blocked by policy" for a redirect to loopback, with nothing about the target, until an administrator allows it', async () => {
    const webhook = await admin.ok<{ id: number }>('POST', '/projects/hooks/webhooks', {
      name: 'redirected',
      url: `http://127.0.0.2:${redirector.port}/hook`,
      eventTypes: ['push'],
      format: 'harbor',
    });
    await new RegistryClient(berth.url).pushImage('hooks/app', 'v1');
    const deliveries = async () =>
      (await admin.ok<{ items: Array<{ status: string; responseCode: number | null; lastError: string | null }> }>('GET', `/projects/hooks/webhooks/${webhook.id}/deliveries`)).items;
    const deadline = Date.now() + 10_000;
    while (!(await deliveries()).some((d) => d.lastError !== null) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const [first] = await deliveries();
    expect(first).toMatchObject({
      responseCode: null,
      lastError:
        'blocked by policy: 127.0.0.1 is a loopback address, which webhook requests may not reach; an administrator can allow it with the setting outbound.webhook.allowCidrs (or outbound.allowCidrs for every feature)',
    });
    expect(target.hits).toEqual([]);
    expect(redirector.hits.length).toBeGreaterThanOrEqual(1);

    // A project admin who is not a system administrator cannot open the door.
    await admin.createUser('hooker', 'Hooker-Passw0rd');
    const user = new ApiClient(berth.url, { username: 'hooker', password: 'Hooker-Passw0rd' });
    expect((await user.call('PATCH', '/system/settings', { outbound: { allowCidrs: ['127.0.0.0/8'] } })).status).toBe(403);

    const view = await admin.ok<{ outbound: { webhook: { allowCidrs: string[] } }; outboundFromFile: { webhook: { allowCidrs: string[] } } }>('PATCH', '/system/settings', {
      outbound: { webhook: { allowCidrs: ['127.0.0.1'] } },
    });
    expect(view.outbound.webhook.allowCidrs).toEqual(['127.0.0.1/32']);
    expect(view.outboundFromFile.webhook.allowCidrs).toEqual(['127.0.0.2/32']);
    const test = await admin.ok<{ status: string; responseCode: number }>('POST', `/projects/hooks/webhooks/${webhook.id}/test`);
    expect(test).toMatchObject({ status: 'succeeded', responseCode: 200 });
    expect(target.hits).toContain(`POST 127.0.0.1:${target.port}/internal`);
  });

  it('refuses settings that are not CIDRs, and changes nothing', async () => {
    const before = await admin.ok('GET', '/system/settings');
    const res = await admin.call('PATCH', '/system/settings', { outbound: { webhook: { allowCidrs: ['127.0.0.1/33'] } } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { title: string }).title).toContain('must be a CIDR such as 10.0.0.0/8 or fd00::/8, or one address');
    expect(await admin.ok('GET', '/system/settings')).toEqual(before);
  });
});
