import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Locator, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { consoleRoot } from '../../src/http/console-routes.js';

/**
 * The web console in Chromium for the end-to-end tests (test/e2e): Debian's Chromium driven by
 * playwright-core, skipped with a message where it or the built console is missing, and the
 * steps every console test takes (log in, screenshots into docs/images, tables, labels).
 */

export const chromiumPath = '/usr/bin/chromium';
/** Where the screenshots docs/*.md show are written. */
export const shots = new URL('../../docs/images/', import.meta.url).pathname;

/**
 * The few browser types that code passed to page.evaluate() uses (it runs in Chromium, not in
 * Node; the project's lib is ES2023 without DOM so Node code cannot use browser globals).
 */
export interface BrowserElement {
  outerHTML: string;
  labels?: ArrayLike<unknown> | null;
  getAttribute(name: string): string | null;
  scrollIntoView(options?: { block: 'start' }): void;
}
declare const document: {
  querySelectorAll(selector: string): Iterable<BrowserElement> & ArrayLike<BrowserElement>;
};

/**
 * Why the console end-to-end tests of `what` cannot run here (none: they run), said once as a
 * warning: no Chromium, the console not built (or, with `built`, not built with what they need),
 * or any of `extra`.
 */
export function consoleSkipReasons(what: string, options: { built?: { check: () => boolean; reason: string }; extra?: Array<string | undefined> } = {}): string[] {
  const built = options.built ?? { check: () => existsSync(join(consoleRoot, 'index.html')), reason: 'the console is not built (npm run build)' };
  const reasons = [
    existsSync(chromiumPath) ? undefined : `${chromiumPath} is missing (Debian: apt-get install -y chromium)`,
    built.check() ? undefined : built.reason,
    ...(options.extra ?? []),
  ].filter((reason): reason is string => Boolean(reason));
  if (reasons.length > 0) console.warn(`SKIPPING ${what} end-to-end tests: ${reasons.join('; ')}`);
  return reasons;
}

/** A suite's title, naming why it is skipped where it is. */
export const suiteTitle = (title: string, reasons: string[]) => `${title}${reasons.length ? ` (skipped: ${reasons.join('; ')})` : ''}`;

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** The window every console test starts in: the screenshots' size, English, the light theme. */
export const consoleWindow: BrowserContextOptions = { viewport: { width: 1280, height: 860 }, locale: 'en-US', colorScheme: 'light' };

/**
 * Chromium and a page in the console's window (with `options`, such as a time zone), every error
 * the page logs or throws kept in `errors` (a test ends by expecting none); the screenshots'
 * directory is made first.
 */
export async function openConsole(errors: string[], options: BrowserContextOptions = {}): Promise<{ browser: Browser; page: Page }> {
  await mkdir(shots, { recursive: true });
  const browser = await launchChromium();
  const context = await browser.newContext({ ...consoleWindow, ...options });
  const page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`${msg.text()} @ ${msg.location().url}`);
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  return { browser, page };
}

/** Logs in on the console's login page at `url` and waits for the projects. */
export async function logIn(page: Page, url: string, username: string, password: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.getByRole('heading', { name: 'Projects' }).waitFor();
}

/**
 * Another user's page, logged in, in a context of its own (its own session cookie) with
 * `options`; what it throws goes to `errors` under the user's name. The caller closes the context.
 */
export async function logInAs(browser: Browser, url: string, username: string, password: string, errors: string[], options: BrowserContextOptions = {}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-US', ...options });
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(`pageerror (${username}): ${err.message}`));
  await logIn(page, url, username, password);
  return { context, page };
}

/** A screenshot of the whole page, docs/images/`name`.png. */
export const shot = (page: Page, name: string) => page.screenshot({ path: `${shots}${name}.png`, fullPage: true });

/** A screenshot of the viewport with `section` at its top, docs/images/`name`.png. */
export async function shotOf(name: string, section: Locator): Promise<void> {
  await section.evaluate((el: BrowserElement) => el.scrollIntoView({ block: 'start' }));
  await section.page().screenshot({ path: `${shots}${name}.png` });
}

/** The text of each cell of each body row of `table`, row by row. */
export async function tableRows(table: Locator): Promise<string[][]> {
  const found: string[][] = [];
  for (let i = 0; i < (await table.locator('tbody tr').count()); i++) found.push(await table.locator('tbody tr').nth(i).locator('td').allInnerTexts());
  return found;
}

/**
 * Chromium logs a request the page expected to fail (a refusal shown to the user, a 404 for "not
 * scanned yet") itself: waits for that line of `status` and `path` and drops it from `errors`.
 */
export async function expectLoggedFailure(errors: string[], status: number, path: string): Promise<void> {
  const matches = (e: string) => e.includes(`status of ${status}`) && e.includes(path);
  await expect.poll(() => errors.findIndex(matches)).toBeGreaterThanOrEqual(0);
  errors.splice(errors.findIndex(matches), 1);
}

/**
 * Opens each of `pages` (a path below `url`, and a wait for what it shows last) and expects every
 * input, select and textarea on it to have a label, an aria-label or aria-labelledby.
 */
export async function expectControlsLabelled(page: Page, url: string, pages: Array<[string, () => Promise<void>]>): Promise<void> {
  for (const [path, loaded] of pages) {
    await page.goto(`${url}${path}`);
    await loaded();
    const unlabelled = await page.evaluate(() =>
      [...document.querySelectorAll('input, select, textarea')]
        .filter((el) => !(el.labels && el.labels.length > 0) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
        .map((el) => el.outerHTML.slice(0, 120)),
    );
    expect(unlabelled, path).toEqual([]);
  }
}
