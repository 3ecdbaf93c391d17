import { createHash } from 'node:crypto';

/**
 * Chain ids of an image's layers, lowest first: the first is the first layer's digest, each next
 * one the SHA-256 of the one before, a space and the next layer's digest (as Docker's chain ids
 * over diff ids, here over blob digests). Two images share the chain id at position n exactly
 * when their lowest n+1 layers are the same, so "built on this base" is one indexed lookup.
 */
export function chainIds(layers: readonly string[]): string[] {
  const chain: string[] = [];
  for (const layer of layers) {
    const below = chain[chain.length - 1];
    chain.push(below === undefined ? layer : `sha256:${createHash('sha256').update(`${below} ${layer}`).digest('hex')}`);
  }
  return chain;
}
