export { BackupError, type BackupErrorCode } from './backup-error.js';
export { manifestName, type BackupManifest } from './backup-manifest.js';
export { isTarTarget, readBackupManifest, takeBackup, type BackupOptions } from './backup.js';
export { restoreBackup, type RestoreOptions, type RestoreResult } from './restore.js';
