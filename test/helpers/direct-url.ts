import { expect } from 'vitest';

/**
 * A URL a client is redirected to (presigned, SAS, CDN) serves exactly `data`: whole with 200,
 * and a Range with 206, the right Content-Range and only those bytes. `data` must hold at least
 * 200 bytes.
 */
export async function expectServesBytes(url: string | URL, data: Buffer): Promise<void> {
  const whole = await fetch(url);
  expect(whole.status).toBe(200);
  expect(Buffer.from(await whole.arrayBuffer()).equals(data)).toBe(true);
  const part = await fetch(url, { headers: { Range: 'bytes=100-199' } });
  expect(part.status).toBe(206);
  expect(part.headers.get('content-range')).toBe(`bytes 100-199/${data.length}`);
  expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(100, 200))).toBe(true);
}
