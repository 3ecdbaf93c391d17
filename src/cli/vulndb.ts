import type { Command } from 'commander';
import { connect, migrate } from '../adapters/db/connect.js';
import { KyselyJobStore } from '../adapters/db/kysely-job-store.js';
import { KyselyVulnStore } from '../adapters/db/kysely-vuln-store.js';
import { importOsv } from '../services/security/vulndb-import.js';
import { configFrom, withConfigFlags, type ConfigFlags } from './admin-context.js';
import { exitCodes } from './exit-codes.js';

/**
 * `berth vulndb import|status`: the vulnerability database the built-in scanner matches against
 * (docs/vulnerabilities.md). Imports run beside a serving Berth; its instances rescan images
 * whose reports predate the import (a `scan.rescan` job, queued here).
 */
export function registerVulndb(program: Command): void {
  const vulndb = program.command('vulndb').description('the vulnerability database (OSV advisories) scans match against');
  withConfigFlags(
    vulndb
      .command('import <source>')
      .description('import OSV advisories from an OSV export zip (e.g. Debian/all.zip), a directory of .json records, or one .json file; incremental')
      .option('--no-rescan', 'do not ask running instances to rescan images after the import'),
    'print the import as JSON',
  ).action(async (source: string, opts: ConfigFlags & { rescan: boolean }) => {
    const config = configFrom(opts);
    const database = connect({ url: config.database.url, poolSize: 2, connectRetryMs: config.database.connectRetryMs, preparedStatements: config.database.preparedStatements });
    try {
      await migrate(database);
      const store = new KyselyVulnStore(database);
      let last = 0;
      const result = await importOsv(store, source, `cli (${process.env.USER ?? 'unknown'})`, {
        onProgress: (done) => {
          if (!opts.json && process.stderr.isTTY && done - last >= 5000) {
            last = done;
            process.stderr.write(`\r${done} advisories read`);
          }
        },
      });
      const changed = result.added + result.updated > 0;
      if (changed && opts.rescan) await new KyselyJobStore(database).enqueue([{ type: 'scan.rescan', payload: {}, maxAttempts: 1, runAt: Date.now() }], Date.now());
      if (opts.json) process.stdout.write(`${JSON.stringify({ ...result, rescanQueued: changed && opts.rescan })}\n`);
      else {
        if (last > 0) process.stderr.write('\n');
        process.stdout.write(
          `imported ${source}: ${result.added} added, ${result.updated} updated, ${result.unchanged} unchanged, ${result.rejected} rejected (database version ${changed ? result.id : 'unchanged'})\n` +
            result.errors.map((e) => `  rejected ${e}\n`).join('') +
            (changed && opts.rescan ? 'running instances will rescan images scanned before this import\n' : ''),
        );
      }
      process.exitCode = result.rejected > 0 && result.added + result.updated + result.unchanged === 0 ? exitCodes.failed : exitCodes.ok;
    } finally {
      await database.db.destroy();
    }
  });
  withConfigFlags(vulndb.command('status').description('what the vulnerability database holds: advisories per ecosystem, the last import')).action(async (opts: ConfigFlags) => {
    const config = configFrom(opts);
    const database = connect({ url: config.database.url, poolSize: 2, connectRetryMs: config.database.connectRetryMs, preparedStatements: config.database.preparedStatements });
    try {
      await migrate(database);
      const status = await new KyselyVulnStore(database).status();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(status)}\n`);
        return;
      }
      const lines = [`version ${status.version}: ${status.advisories} advisories`];
      for (const [ecosystem, n] of Object.entries(status.ecosystems)) lines.push(`  ${ecosystem}: ${n} affected packages`);
      if (status.lastImport) lines.push(`last import: ${status.lastImport.source} at ${new Date(status.lastImport.importedAt).toISOString()} (${status.lastImport.added} added, ${status.lastImport.updated} updated)`);
      process.stdout.write(`${lines.join('\n')}\n`);
    } finally {
      await database.db.destroy();
    }
  });
}
