import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { s3Limits } from './s3-part-plan.js';

/** Bucket, key and the headers a new object carries (server-side encryption). */
export interface ObjectTarget {
  Bucket: string;
  Key: string;
  ServerSideEncryption?: 'AES256' | 'aws:kms';
  SSEKMSKeyId?: string;
}

/**
 * Streams a body of unknown length into one S3 object holding at most one part in memory: the
 * part buffer is filled, sent (UploadPart) and then reused, so the body waits (backpressure)
 * while a part is on its way. A body that ends before the first part is full goes up in a
 * single PutObject instead. Either way the object appears whole or not at all: S3 shows a
 * multipart object only on CompleteMultipartUpload, and a failure aborts the multipart upload
 * (best effort; a bucket lifecycle rule "AbortIncompleteMultipartUpload" expires what an abort
 * could not reach).
 *
 * Why not @aws-sdk/lib-storage's Upload: it Buffer.concat()s every part out of the pieces it
 * collected and keeps the leftover slice of the previous part alive, so it holds about
 * (queueSize + 2) parts plus garbage: measured +75 MiB RSS for a 256 MiB append at
 * queueSize 1 and 16 MiB parts.
 *
 * Resolves with the number of bytes written.
 */
export async function writeObject(client: S3Client, target: ObjectTarget, body: AsyncIterable<Uint8Array>, partSize: number): Promise<number> {
  if (partSize < s3Limits.minPartBytes || partSize > s3Limits.maxPartBytes) throw new Error(`part size ${partSize} is outside S3's limits`);
  // Until a whole part has arrived the pieces are kept as they came (no copy): most chunks are small.
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let part: Buffer | undefined;
  let filled = 0;
  let total = 0;
  let uploadId: string | undefined;
  const etags: string[] = [];

  const sendPart = async (data: Buffer) => {
    uploadId ??= await createMultipart(client, target);
    if (etags.length >= s3Limits.maxParts) throw new Error(`${target.Key} needs more than ${s3Limits.maxParts} parts of ${partSize} bytes`);
    const partNumber = etags.length + 1;
    const sent = await client.send(
      new UploadPartCommand({ Bucket: target.Bucket, Key: target.Key, UploadId: uploadId, PartNumber: partNumber, Body: data, ContentLength: data.length }),
    );
    if (!sent.ETag) throw new Error(`S3 returned no ETag for part ${partNumber} of ${target.Key}`);
    etags.push(sent.ETag);
  };

  try {
    for await (const chunk of body) {
      let piece = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      total += piece.length;
      if (part === undefined) {
        if (pendingBytes + piece.length < partSize) {
          pending.push(piece);
          pendingBytes += piece.length;
          continue;
        }
        // A whole part is here: from now on bytes are copied into the one part buffer.
        part = Buffer.allocUnsafe(partSize);
        for (const p of pending) filled += p.copy(part, filled);
        pending = [];
        pendingBytes = 0;
      }
      while (piece.length > 0) {
        const copied = piece.copy(part, filled, 0, Math.min(piece.length, partSize - filled));
        filled += copied;
        piece = piece.subarray(copied);
        if (filled === partSize) {
          await sendPart(part);
          filled = 0;
        }
      }
    }

    if (part === undefined) {
      const data = Buffer.concat(pending, pendingBytes);
      await client.send(new PutObjectCommand({ ...target, Body: data, ContentLength: data.length }));
      return total;
    }
    // The last part may be smaller than 5 MiB (S3 allows it for the final part only).
    if (filled > 0) await sendPart(part.subarray(0, filled));
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: target.Bucket,
        Key: target.Key,
        UploadId: uploadId,
        MultipartUpload: { Parts: etags.map((ETag, index) => ({ ETag, PartNumber: index + 1 })) },
      }),
    );
    return total;
  } catch (err) {
    await abortMultipart(client, target, uploadId);
    throw err;
  }
}

async function createMultipart(client: S3Client, target: ObjectTarget): Promise<string> {
  const created = await client.send(new CreateMultipartUploadCommand({ ...target }));
  if (!created.UploadId) throw new Error(`S3 returned no UploadId for ${target.Key}`);
  return created.UploadId;
}

/** Best effort: parts of an abandoned multipart upload are invisible, and lifecycle rules expire them. */
export async function abortMultipart(client: S3Client, target: { Bucket: string; Key: string }, uploadId: string | undefined): Promise<void> {
  if (uploadId === undefined) return;
  await client.send(new AbortMultipartUploadCommand({ Bucket: target.Bucket, Key: target.Key, UploadId: uploadId })).catch(() => undefined);
}
