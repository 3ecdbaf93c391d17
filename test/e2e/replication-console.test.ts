import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { ApiClient } from '../helpers/api.js';
import { adminCredentials, startTestBerth, type TestBerth } from '../helpers/berth.js';
import { consoleSkipReasons, expectControlsLabelled, expectLoggedFailure, logIn, openConsole, shot, suiteTitle } from '../helpers/chromium.js';
import { OCI_MANIFEST, RegistryClient, randomImage, type Image } from '../helpers/oci.js';
import { StandInDragonfly } from '../helpers/dragonfly.js';

const reasons = consoleSkipReasons('replication console');

describe.skipIf(reasons.length > 0)(suiteTitle('replication pages of the web console in Chromium', reasons), () => {
  let berth: TestBerth;
  let remote: TestBerth;
  let api: ApiClient;
  let browser: Browser;
  let page: Page;
  let image: Image;
  let dragonfly: StandInDragonfly;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    remote = await startTestBerth();
    dragonfly = new StandInDragonfly('pat-good');
    await dragonfly.start();
    berth = await startTestBerth({ settings: { 'outbound.replication.allowCidrs': ['127.0.0.0/8'], 'outbound.proxyCache.allowCidrs': ['127.0.0.0/8'], 'outbound.preheat.allowCidrs': ['127.0.0.0/8'], 'jobs.pollIntervalMs': 50 } });
    api = new ApiClient(berth.url, adminCredentials);
    await api.createProject('shop');
    await api.createProject('hub');
    image = await api.registry.pushImage('shop/app', 'v1.0', randomImage(2, 8192));
    await api.registry.pushImage('shop/app', 'dev', randomImage(1, 1024));
    ({ browser, page } = await openConsole(consoleErrors));
  });
  afterAll(async () => {
    await browser?.close();
    await berth?.stop();
    await remote?.stop();
    await dragonfly?.stop();
  });

  it('logs in and adds an endpoint to another Berth, testing the connection first', async () => {
    await logIn(page, berth.url, adminCredentials.username, adminCredentials.password);
    await page.getByRole('link', { name: 'Replication' }).click();
    await page.getByRole('heading', { name: 'Replication', exact: true }).waitFor();
    await page.getByText('No registry endpoints yet').waitFor();
    await page.getByRole('button', { name: 'New endpoint' }).click();
    const dialog = page.getByRole('dialog', { name: 'New endpoint' });
    await dialog.getByLabel('Name', { exact: true }).fill('dc2');
    await dialog.getByLabel('Kind').selectOption({ label: 'Berth' });
    await dialog.getByLabel('URL').fill(remote.url);
    await dialog.getByLabel('Username').fill(adminCredentials.username);
    await dialog.getByLabel('Password or token').fill(adminCredentials.password);
    await dialog.getByRole('button', { name: 'Test connection' }).click();
    await dialog.getByRole('status').getByText('Connected').waitFor();
    expect(await dialog.getByRole('status').innerText()).toMatch(/^Connected the registry answered and accepted the credentials · \d+ ms$/);
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('cell', { name: 'dc2', exact: true }).waitFor();
    const endpoints = await api.ok<{ items: Array<{ name: string; kind: string; url: string; username: string; hasSecret: boolean }> }>('GET', '/registries');
    expect(endpoints.items.map((e) => [e.name, e.kind, e.url, e.username, e.hasSecret])).toEqual([['dc2', 'berth', remote.url, 'admin', true]]);
    await page.getByRole('button', { name: 'Test connection to dc2' }).click();
    await page.getByRole('status').getByText('Connected').waitFor();
    await shot(page, 'replication-endpoints');
  });

  it('shows the policy refusing an internal address, naming the setting', async () => {
    await page.getByRole('button', { name: 'New endpoint' }).click();
    const dialog = page.getByRole('dialog', { name: 'New endpoint' });
    await dialog.getByLabel('Name', { exact: true }).fill('metadata');
    await dialog.getByLabel('Kind').selectOption({ label: 'Any OCI registry' });
    await dialog.getByLabel('URL').fill('http://169.254.169.254');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog
      .getByRole('alert')
      .getByText('endpoint url blocked by policy: 169.254.169.254 is a link-local address, which replication requests may not reach; an administrator can allow it with the setting outbound.replication.allowCidrs (or outbound.allowCidrs for every feature)')
      .waitFor();
    await expectLoggedFailure(consoleErrors, 400, '/api/v1/registries');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
  });

  it('creates a push rule for tags v*, runs it, and shows the execution with its artifact', async () => {
    await page.getByRole('tab', { name: 'Rules' }).click();
    await page.getByText('No replication rules yet').waitFor();
    await page.getByRole('button', { name: 'New rule' }).click();
    const dialog = page.getByRole('dialog', { name: 'New rule' });
    await dialog.getByLabel('Name', { exact: true }).fill('to-dc2');
    await dialog.getByLabel('Direction').selectOption('push');
    await dialog.getByLabel('Repositories').fill('shop/**');
    await dialog.getByLabel('Tags', { exact: true }).fill('v*');
    await dialog.getByLabel('Destination namespace').fill('backup');
    await dialog.getByLabel('Flatten').fill('1');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('cell', { name: 'to-dc2', exact: true }).waitFor();
    const rules = await api.ok<{ items: Array<Record<string, unknown>> }>('GET', '/replication/policies');
    expect(rules.items.map((r) => [r.name, r.direction, r.repositories, r.tags, r.destinationNamespace, r.flatten, r.trigger, r.copyReferrers])).toEqual([['to-dc2', 'push', 'shop/**', 'v*', 'backup', 1, 'manual', true]]);
    await page.getByRole('button', { name: 'Run to-dc2 now' }).click();
    await page.getByText(/^Execution \d+ of to-dc2 started\./).waitFor();
    await page.getByRole('link', { name: 'See executions' }).click();
    await page.getByRole('link', { name: 'Execution 1' }).click();
    await page.getByRole('heading', { name: 'Execution 1' }).waitFor();
    await page.locator('dl.facts').getByText('Succeeded').waitFor();
    const rows = page.locator('table.tasks tbody tr');
    expect(await rows.count()).toBe(1);
    const cells = await rows.first().locator('td').allInnerTexts();
    expect([cells[0], cells[1], cells[2]]).toEqual(['shop/app:v1.0', 'backup/app', 'Copied']);
    expect(cells[3]).toBe(`sha256:${image.digest.slice(7, 19)}`);
    // The image arrived at the other Berth under the rewritten name.
    const there = await new RegistryClient(remote.url).fetch('/v2/backup/app/manifests/v1.0', { headers: { Accept: OCI_MANIFEST } });
    expect(Buffer.from(await there.arrayBuffer()).equals(image.manifest)).toBe(true);
    await shot(page, 'replication-execution');
  });

  it('shows a proxy-cache project’s upstream and health', async () => {
    await page.goto(`${berth.url}/projects/hub?tab=proxy`);
    await page.getByRole('heading', { name: 'Proxy cache', exact: true }).waitFor();
    await page.getByText('This project is an ordinary project.').waitFor();
    await page.getByLabel('Upstream endpoint').selectOption({ label: `dc2 (${remote.url})` });
    await page.getByLabel('Check tags again after (seconds)').fill('60');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Proxy-cache settings saved').waitFor();
    expect(await api.ok('GET', '/projects/hub/proxy-cache')).toMatchObject({ proxyCache: { endpointId: 1, ttlSeconds: 60 } });
    // A pull through the cache makes the upstream answer; the panel shows when.
    const pulled = await api.registry.fetch('/v2/hub/backup/app/manifests/v1.0', { headers: { Accept: OCI_MANIFEST } });
    expect(pulled.status).toBe(200);
    await page.reload();
    const health = page.locator('dl.proxy-health');
    await health.waitFor();
    expect(await health.locator('dd').nth(0).innerText()).not.toBe('—');
    expect(await health.locator('dd').nth(2).innerText()).toBe('0');
    await shot(page, 'replication-proxy-cache');
  });

  it('adds a Dragonfly provider and runs a project’s preheat policy, showing each image’s outcome', async () => {
    await page.goto(`${berth.url}/replication?tab=preheat`);
    await page.getByText('No preheat providers yet').waitFor();
    await page.getByRole('button', { name: 'New provider' }).click();
    const dialog = page.getByRole('dialog', { name: 'New provider' });
    await dialog.getByLabel('Name', { exact: true }).fill('dragonfly');
    await dialog.getByLabel('URL').fill(dragonfly.url);
    await dialog.getByLabel('Personal access token').fill('pat-good');
    await dialog.getByRole('button', { name: 'Test connection' }).click();
    await dialog.getByRole('status').getByText('the provider answered and accepted the credentials').waitFor();
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('cell', { name: 'dragonfly Dragonfly' }).waitFor();
    await page.goto(`${berth.url}/projects/shop?tab=preheat`);
    await page.getByRole('heading', { name: 'P2P preheat' }).waitFor();
    await page.getByRole('button', { name: 'New preheat policy' }).click();
    const form = page.getByRole('dialog', { name: 'New preheat policy' });
    await form.getByLabel('Name', { exact: true }).fill('releases');
    await form.getByLabel('Tags', { exact: true }).fill('v*');
    await form.getByLabel('Scope').selectOption('all_peers');
    await form.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('cell', { name: 'releases', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Run releases now' }).click();
    await page.locator('table.preheat-executions').getByText('Succeeded').waitFor();
    await page.getByRole('button', { name: /^Execution \d+$/ }).click();
    const task = page.locator('table.preheat-tasks tbody tr');
    await task.first().getByText('Preheated').waitFor();
    const cells = await task.first().locator('td').allInnerTexts();
    expect([cells[0], cells[1], cells[2], cells[3]]).toEqual(['shop/app:v1.0', `sha256:${image.digest.slice(7, 19)}`, '1', 'Preheated']);
    expect(dragonfly.jobs.map((j) => [j.body.args.url.replace(/^http:\/\/localhost:\d+/, ''), j.body.args.scope, j.pullStatus])).toEqual([['/v2/shop/app/manifests/v1.0', 'all_peers', 200]]);
    await shot(page, 'preheat');
  });

  it('reads in 简体中文', async () => {
    await page.goto(`${berth.url}/replication?tab=rules`);
    await page.getByLabel('Language').selectOption('zh-CN');
    await page.getByRole('heading', { name: '复制', exact: true }).waitFor();
    expect(await page.getByRole('tab', { name: '规则' }).getAttribute('aria-selected')).toBe('true');
    await page.getByRole('button', { name: '立即执行 to-dc2' }).waitFor();
    await page.getByRole('tab', { name: '仓库端点' }).click();
    await page.getByRole('button', { name: '测试到 dc2 的连接' }).click();
    await page.getByRole('status').getByText('已连接').waitFor();
    await shot(page, 'replication-zh');
    await page.getByLabel('语言').selectOption('en');
    await page.getByRole('tab', { name: 'Registry endpoints' }).waitFor();
  });

  it('labels every form control of the new pages', async () => {
    await expectControlsLabelled(page, berth.url, [
      ['/replication?tab=endpoints', async () => {
        await page.getByRole('button', { name: 'New endpoint' }).click();
        await page.getByRole('dialog').waitFor();
      }],
      ['/replication?tab=rules', async () => {
        await page.getByRole('button', { name: 'New rule' }).click();
        await page.getByRole('dialog').getByLabel('Trigger').selectOption('cron');
        await page.getByRole('dialog').getByLabel('Cron expression (UTC)').waitFor();
      }],
      ['/projects/hub?tab=proxy', () => page.locator('dl.proxy-health').waitFor()],
      ['/projects/shop?tab=preheat', async () => {
        await page.getByRole('button', { name: 'New preheat policy' }).click();
        await page.getByRole('dialog').getByLabel('Trigger').selectOption('cron');
        await page.getByRole('dialog').getByLabel('Cron expression (UTC)').waitFor();
      }],
    ]);
  });

  it('logged no error in the browser console during the whole run', () => {
    expect(consoleErrors).toEqual([]);
  });
});
