/**
 * Why a backup or restore was refused or failed. `code` is what callers and tests look at:
 * - REFUSED: the command will not run here (PostgreSQL or object storage; a live target without --force; a server using it)
 * - NOT_FOUND: no backup at that path
 * - INCOMPLETE: the backup never finished (no manifest) or lacks a file it lists
 * - TRUNCATED: the backup file ends early
 * - CORRUPT: a file's bytes do not match their checksum or digest, or the manifest is damaged
 * - UNSUPPORTED: a backup format or schema newer than this Berth
 */
export type BackupErrorCode = 'REFUSED' | 'NOT_FOUND' | 'INCOMPLETE' | 'TRUNCATED' | 'CORRUPT' | 'UNSUPPORTED';

export class BackupError extends Error {
  constructor(
    readonly code: BackupErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'BackupError';
  }
}
