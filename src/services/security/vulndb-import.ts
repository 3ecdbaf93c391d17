import { opendir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { parseOsv, type Advisory } from '../../domain/vulns/osv.js';
import type { VulnImportRow, VulnStore } from '../../ports/vuln-store.js';

/** A record larger than this is refused (the largest OSV records are a few hundred KiB). */
const maxRecordBytes = 4 * 2 ** 20;
/** Advisories written per transaction. */
const batchSize = 500;

export interface ImportResult extends VulnImportRow {
  /** The first few records refused, with why. */
  errors: string[];
}

/**
 * `berth vulndb import`: reads OSV records (https://ossf.github.io/osv-schema/) from an OSV
 * export zip (`<ecosystem>/all.zip` of osv-vulnerabilities.storage.googleapis.com), a directory
 * of `.json` files (searched recursively) or one `.json` file, and stores them. Incremental: a
 * record replaces a stored advisory only when its `modified` is newer, so importing the same
 * export again changes nothing and a newer export changes only what changed. Records that are
 * not OSV are counted and named, never stored.
 */
export async function importOsv(store: VulnStore, source: string, importedBy: string | null, options: { now?: () => number; onProgress?: (done: number) => void } = {}): Promise<ImportResult> {
  const now = options.now ?? Date.now;
  const counts = { added: 0, updated: 0, unchanged: 0, rejected: 0 };
  const errors: string[] = [];
  let batch: Advisory[] = [];
  const flush = async () => {
    const done = await store.upsert(batch, now());
    counts.added += done.added;
    counts.updated += done.updated;
    counts.unchanged += done.unchanged;
    batch = [];
    options.onProgress?.(counts.added + counts.updated + counts.unchanged);
  };
  for await (const record of recordsOf(source)) {
    try {
      if ('error' in record) throw new Error(record.error);
      batch.push(parseOsv(JSON.parse(record.text) as unknown));
    } catch (err) {
      counts.rejected++;
      if (errors.length < 20) errors.push(`${record.name}: ${(err as Error).message}`);
      continue;
    }
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  const row = await store.recordImport({ source, ...counts, importedBy, importedAt: now() });
  return { ...row, errors };
}

type SourceRecord = { name: string; text: string } | { name: string; error: string };

async function* recordsOf(source: string): AsyncGenerator<SourceRecord> {
  const info = await stat(source);
  if (info.isDirectory()) yield* directoryRecords(source);
  else if (source.endsWith('.zip')) yield* zipRecords(source);
  else yield await fileRecord(source, info.size);
}

async function fileRecord(path: string, size: number): Promise<SourceRecord> {
  if (size > maxRecordBytes) return { name: path, error: `larger than ${maxRecordBytes} bytes` };
  return { name: path, text: await readFile(path, 'utf8') };
}

async function* directoryRecords(dir: string): AsyncGenerator<SourceRecord> {
  const entries = [];
  for await (const entry of await opendir(dir)) entries.push(entry);
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* directoryRecords(path);
    else if (entry.isFile() && entry.name.endsWith('.json')) yield await fileRecord(path, (await stat(path)).size);
  }
}

/** The `.json` entries of a zip, one at a time (yauzl reads the central directory, then each entry as a stream). */
async function* zipRecords(path: string): AsyncGenerator<SourceRecord> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) => yauzl.open(path, { lazyEntries: true, autoClose: false }, (err, file) => (err ? reject(err) : resolve(file))));
  try {
    for (;;) {
      const entry = await new Promise<yauzl.Entry | undefined>((resolve, reject) => {
        const onEntry = (e: yauzl.Entry) => {
          zip.off('end', onEnd).off('error', onError);
          resolve(e);
        };
        const onEnd = () => {
          zip.off('entry', onEntry).off('error', onError);
          resolve(undefined);
        };
        const onError = (err: Error) => {
          zip.off('entry', onEntry).off('end', onEnd);
          reject(err);
        };
        zip.once('entry', onEntry).once('end', onEnd).once('error', onError);
        zip.readEntry();
      });
      if (!entry) return;
      if (!entry.fileName.endsWith('.json') || entry.fileName.endsWith('/')) continue;
      if (entry.uncompressedSize > maxRecordBytes) {
        yield { name: entry.fileName, error: `larger than ${maxRecordBytes} bytes` };
        continue;
      }
      const stream = await new Promise<Readable>((resolve, reject) => zip.openReadStream(entry, (err, s) => (err ? reject(err) : resolve(s))));
      const chunks: Buffer[] = [];
      let bytes = 0;
      try {
        for await (const chunk of stream) {
          bytes += (chunk as Buffer).length;
          if (bytes > maxRecordBytes) throw new Error(`larger than ${maxRecordBytes} bytes`);
          chunks.push(chunk as Buffer);
        }
        yield { name: entry.fileName, text: Buffer.concat(chunks).toString('utf8') };
      } catch (err) {
        stream.destroy();
        yield { name: entry.fileName, error: (err as Error).message };
      }
    }
  } finally {
    zip.close();
  }
}
