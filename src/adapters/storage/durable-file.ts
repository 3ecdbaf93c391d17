import { close, fsync, open, write } from 'node:fs';

/*
 * A durable write takes four file calls (open, write, fsync, close) and making a rename durable
 * three (open, fsync, close of the directory). Through fs/promises each call is a promise and the
 * file a FileHandle the event loop tracks; chained as callbacks they are one promise. A profile
 * of 6,000 manifest pushes on one worker spent 0.48 ms of the event loop's time per push in the
 * filesystem store's put, 0.21 ms of it syncing the directory (docs/performance.md).
 */

/** Creates (or empties) the file at `path`, writes `data` to it and syncs it to disk. */
export function writeSynced(path: string, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    open(path, 'w', (opening, fd) => {
      if (opening) return reject(opening);
      const fail = (cause: Error) => close(fd, () => reject(cause));
      const writeFrom = (offset: number): void => {
        if (offset < data.length) {
          write(fd, data, offset, data.length - offset, null, (writing, written) => (writing ? fail(writing) : writeFrom(offset + written)));
          return;
        }
        fsync(fd, (syncing) => (syncing ? fail(syncing) : close(fd, (closing) => (closing ? reject(closing) : resolve()))));
      };
      writeFrom(0);
    });
  });
}

/**
 * Syncs what was written to the file or directory at `path` (a directory: the names renamed into
 * it). `flags` as to open(2) through node:fs: `r` for a directory, `r+` to require a file one may write.
 */
export function syncPath(path: string, flags: 'r' | 'r+' = 'r'): Promise<void> {
  return new Promise((resolve, reject) => {
    open(path, flags, (opening, fd) => {
      if (opening) return reject(opening);
      fsync(fd, (syncing) =>
        close(fd, (closing) => {
          const cause = syncing ?? closing;
          if (cause) reject(cause);
          else resolve();
        }),
      );
    });
  });
}
