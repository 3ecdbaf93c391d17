import { afterEach, describe, expect, it } from 'vitest';
import { startTestBerth, type TestBerth } from '../helpers/berth.js';
import { ApiClient } from '../helpers/api.js';
import { RegistryClient } from '../helpers/oci.js';
import { until } from '../helpers/wait.js';

/**
 * A pushed image's index-and-scan job waits while the process is saturated with requests (a
 * request in flight, the event loop busy), and runs once it is not. The server runs in the test's
 * process, so the test saturates it itself: an upload whose body it holds open, and a loop that
 * keeps the event loop busy 40 ms at a time.
 */
describe('background jobs and a saturated process', () => {
  let berth: TestBerth | undefined;
  afterEach(async () => {
    await berth?.stop();
    berth = undefined;
  });

  /** Keeps the event loop busy until the returned function is called. */
  function spin(): () => Promise<void> {
    let spinning = true;
    const loop = (async () => {
      while (spinning) {
        const until = performance.now() + 40;
        while (performance.now() < until) {
          // busy
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    return async () => {
      spinning = false;
      await loop;
    };
  }

  /** Starts an upload whose body stays open (a request in flight) until the returned function is called. */
  async function heldUpload(registry: RegistryClient, name: string): Promise<() => Promise<number>> {
    const location = await registry.startUpload(name);
    let close!: () => void;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(1024));
        close = () => controller.close();
      },
    });
    const response = registry.fetch(location, { method: 'PATCH', body, headers: { 'Content-Type': 'application/octet-stream' }, duplex: 'half' } as RequestInit);
    return async () => {
      close();
      return (await response).status;
    };
  }

  async function scanJob(admin: ApiClient, digest: string): Promise<string | undefined> {
    const res = await admin.call('GET', '/jobs?type=scan.artifact&page_size=100');
    const { items } = (await res.json()) as { items: Array<{ status: string; payload: { digest?: string } }> };
    return items.find((job) => job.payload.digest === digest)?.status;
  }

  /**
   * Starts Berth with `settings`, saturates it (a held upload, a busy loop), pushes an image and
   * hands `during` the push's scan-job status reader; ends the saturation when `during` returns.
   */
  async function pushWhileSaturated(settings: Record<string, unknown>, during: (status: () => Promise<string | undefined>, unsaturate: () => Promise<void>) => Promise<void>): Promise<void> {
    berth = await startTestBerth({ settings });
    const registry = new RegistryClient(berth.url);
    const admin = new ApiClient(berth.url);
    const release = await heldUpload(registry, 'library/held');
    const stop = spin();
    let released: Promise<number> | undefined;
    const unsaturate = async () => {
      await stop();
      released ??= release();
      expect(await released).toBe(202);
    };
    try {
      const image = await registry.pushImage('library/waits', 'v1');
      await during(() => scanJob(admin, image.digest), unsaturate);
    } finally {
      await unsaturate();
    }
  }

  it('leaves a push\'s scan job queued while saturated, and runs it within a second once the burst is over', async () => {
    await pushWhileSaturated({}, async (status, unsaturate) => {
      await until(async () => (await status()) !== undefined, 10_000, 'the push\'s job queued');
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(await status()).toBe('queued');
      await unsaturate();
      const released = Date.now();
      await until(async () => (await status()) === 'succeeded', 10_000, 'the job run');
      expect(Date.now() - released).toBeLessThan(1000);
    });
  });

  it('runs it at once, saturated or not, with jobs.backgroundMaxDelaySeconds 0', async () => {
    await pushWhileSaturated({ 'jobs.backgroundMaxDelaySeconds': 0 }, async (status) => {
      await until(async () => (await status()) === 'succeeded', 10_000, 'the job run while saturated');
    });
  });
});
