import { BackupError } from './backup-error.js';

/** The file a backup is verified by; written last, so a backup without it never finished. */
export const manifestName = 'berth-backup.json';
/** The database copy inside a backup. */
export const databaseName = 'berth.db';
/** dataDir/secrets.key (the key that encrypts stored endpoint credentials), when there is one. */
export const secretsName = 'secrets.key';

export const backupFormat = 'berth-backup';
export const backupFormatVersion = 1;

export interface BackupFileRecord {
  /** Name inside the backup. */
  file: string;
  bytes: number;
  /** Hex SHA-256 of the file. */
  sha256: string;
}

/** berth-backup.json: what a backup holds and how restore checks it. */
export interface BackupManifest {
  format: typeof backupFormat;
  version: typeof backupFormatVersion;
  /** Random id of this backup. */
  id: string;
  /** When the database copy was taken (ISO 8601, UTC). */
  createdAt: string;
  berthVersion: string;
  /** The newest migration the copied database has (its schema version), and how many it has. */
  schema: { latest: string | null; migrations: number };
  database: BackupFileRecord;
  secrets: BackupFileRecord | null;
  blobs: {
    /** false: a database-only backup (`--no-blobs`); the storage is backed up another way. */
    included: boolean;
    /** Blobs (layers, configs and manifests) in the backup, and their bytes. */
    count: number;
    bytes: number;
    /** Of those: read from storage by this backup, and found whole (digest checked) in the target or the `--since` backup. */
    copied: number;
    reused: number;
    /** Blobs whose bytes were missing or corrupt in storage: quarantined in the copy (never served until pushed again). */
    quarantined: Array<{ digest: string; kind: 'missing' | 'corrupt' }>;
    /** The backup blobs were reused from, if any. */
    since: string | null;
  };
  counts: { repositories: number; manifests: number; tags: number };
}

/** Reads berth-backup.json, refusing anything that is not a backup this Berth understands. */
export function parseManifest(text: string): BackupManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BackupError('CORRUPT', `${manifestName} is not valid JSON (${(err as Error).message})`);
  }
  const m = value as Partial<BackupManifest> | null;
  if (!m || typeof m !== 'object' || m.format !== backupFormat) throw new BackupError('CORRUPT', `${manifestName} does not describe a Berth backup`);
  if (m.version !== backupFormatVersion) {
    throw new BackupError('UNSUPPORTED', `the backup has format version ${String(m.version)}; this Berth reads version ${backupFormatVersion}. Restore it with the Berth that made it (${String(m.berthVersion)}) or a newer one`);
  }
  const file = (r: unknown): r is BackupFileRecord => {
    const f = r as BackupFileRecord | null;
    return !!f && typeof f.file === 'string' && Number.isSafeInteger(f.bytes) && f.bytes >= 0 && /^[0-9a-f]{64}$/.test(f.sha256);
  };
  if (!file(m.database) || (m.secrets !== null && !file(m.secrets)) || !m.blobs || !Number.isSafeInteger(m.blobs.count) || !Number.isSafeInteger(m.blobs.bytes) || !m.schema) {
    throw new BackupError('CORRUPT', `${manifestName} lacks the fields a backup has (database, secrets, blobs, schema)`);
  }
  return m as BackupManifest;
}

/** Where a blob lives inside a backup: the storage layout's shape (blobs/<algorithm>/<first two hex>/<hex>). */
export function blobEntryName(digest: string): string {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return `blobs/${algorithm}/${hex.slice(0, 2)}/${hex}`;
}

/** The digest an entry name of a backup names, or undefined. */
export function digestOfEntry(name: string): string | undefined {
  const match = /^blobs\/(sha256|sha512)\/([0-9a-f]{2})\/([0-9a-f]{64}|[0-9a-f]{128})$/.exec(name);
  if (!match || match[3]!.slice(0, 2) !== match[2]) return undefined;
  return `${match[1]}:${match[3]}`;
}
