/**
 * Cuts a byte stream of unknown length into blocks of exactly `size` bytes (the last may be
 * shorter), for stores that take an object in numbered pieces of a known length (S3 parts,
 * Azure blocks). At most one block is held: full blocks are views of one buffer that is refilled
 * once the consumer asks for the next, so a yielded block is valid only until then, and the
 * source waits (backpressure) while the consumer sends a block on its way.
 *
 * A stream that ends before one block is full is yielded as its pieces joined, without a
 * block-sized allocation: most chunks are small. An empty stream yields nothing.
 */
export async function* fixedBlocks(body: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Buffer, void, undefined> {
  if (!Number.isSafeInteger(size) || size < 1) throw new Error(`block size ${size} is not a positive whole number`);
  // Until a whole block has arrived the pieces are kept as they came (no copy).
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let block: Buffer | undefined;
  let filled = 0;
  for await (const chunk of body) {
    let piece = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (block === undefined) {
      if (pendingBytes + piece.length < size) {
        pending.push(piece);
        pendingBytes += piece.length;
        continue;
      }
      // A whole block is here: from now on bytes are copied into the one block buffer.
      block = Buffer.allocUnsafe(size);
      for (const p of pending) filled += p.copy(block, filled);
      pending = [];
      pendingBytes = 0;
    }
    while (piece.length > 0) {
      const copied = piece.copy(block, filled, 0, Math.min(piece.length, size - filled));
      filled += copied;
      piece = piece.subarray(copied);
      if (filled === size) {
        yield block;
        filled = 0;
      }
    }
  }
  if (block === undefined) {
    if (pendingBytes > 0) yield Buffer.concat(pending, pendingBytes);
  } else if (filled > 0) {
    yield block.subarray(0, filled);
  }
}
