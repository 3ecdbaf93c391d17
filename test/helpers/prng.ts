/** mulberry32: a small seeded PRNG, so a failing interleaving of operations can be named and replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed of a randomized test: BERTH_TEST_SEED when set (to replay a failure), else random. */
export function testSeed(): number {
  return Number(process.env.BERTH_TEST_SEED ?? Math.floor(Math.random() * 2 ** 32));
}
