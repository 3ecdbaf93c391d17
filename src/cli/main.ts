#!/usr/bin/env node
import cluster from 'node:cluster';
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Command, Option } from 'commander';
import type { Logger } from 'pino';
import { ConfigError, configReference, loadConfig, type ResolvedConfig } from '../config/load.js';
import { createLogger, prepareBerth, startBerth, type RunningBerth } from '../server.js';
import { runPrimary, workerChannel } from './cluster.js';
import { registerGc } from './gc.js';
import { registerScrub } from './scrub.js';
import { registerMigrateStorage } from './migrate-storage.js';
import { registerTransfer } from './transfer.js';
import { settingFlags } from './set-flags.js';

const program = new Command();
program.name('berth').description('Berth: a container image registry and artifact hub').showHelpAfterError();

program
  .command('serve', { isDefault: true })
  .description('run the registry')
  .option('-c, --config <file>', 'YAML config file (also BERTH_CONFIG)')
  .option('--host <address>', 'address to listen on (server.host)')
  .option('-p, --port <port>', 'port to listen on (server.port)')
  .option('--data-dir <dir>', 'data directory (dataDir)')
  .option('--database-url <url>', 'sqlite:<path> or postgres://… (database.url)')
  .addOption(new Option('--log-level <level>', 'log level (log.level)'))
  .option('-w, --workers <n>', 'processes serving the port; 0 = one per CPU core (server.workers)')
  .option('--set <key=value...>', 'any setting by its dotted key, e.g. --set registry.maxManifestBytes=8388608')
  .action(async (opts: Record<string, unknown>) => {
    const flags: Record<string, unknown> = {
      'server.host': opts.host,
      'server.port': opts.port,
      dataDir: opts.dataDir,
      'database.url': opts.databaseUrl,
      'log.level': opts.logLevel,
      'server.workers': opts.workers,
      ...settingFlags(opts.set as string[] | undefined),
    };
    const config = loadConfig({ file: opts.config as string | undefined, flags });
    const workers = config.server.workers === 0 ? availableParallelism() : config.server.workers;
    const channel = workerChannel();

    if (workers > 1 && cluster.isPrimary) {
      // First-start work happens once, here, before the workers share the database.
      const logger = createLogger(config.log.level);
      const initialAdmin = await prepareBerth(config, logger);
      runPrimary({
        workers,
        logger,
        shutdownTimeoutMs: config.server.shutdownTimeoutMs,
        onListening: (url, port) => announce(config, logger, url, port, initialAdmin, workers),
      });
      return;
    }

    // A change of users, robots, projects or members answers its request only once the other
    // workers dropped their caches (or after a second), so the next request sees it wherever
    // it lands.
    const relayed = new Map<string, () => void>();
    let changes = 0;
    const relayIdentityChange = (): Promise<void> | undefined => {
      if (!channel) return undefined;
      const key = `${process.pid}:${++changes}`;
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          relayed.delete(key);
          resolve();
        };
        const timer = setTimeout(done, 1000);
        relayed.set(key, done);
        channel.send({ berth: 'identity-changed', key });
      });
    };
    const berth = await startBerth(config, { onIdentityChange: channel ? relayIdentityChange : undefined });
    if (channel) {
      channel.onMessage((message) => {
        if (message.berth === 'invalidate-identity') {
          void berth.invalidateIdentity().then(() => channel.send({ berth: 'invalidated', key: message.key }));
        } else if (message.berth === 'identity-relayed') {
          relayed.get(message.key)?.();
        }
      });
      channel.send({ berth: 'listening', url: berth.url, port: berth.port });
      // The primary is gone (killed): nobody will route requests here any more.
      process.on('disconnect', () => void berth.close().finally(() => process.exit(0)));
    } else {
      announce(config, berth.logger, berth.url, berth.port, berth.initialAdmin, 1);
    }

    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      berth.logger.info({ signal }, 'shutting down: finishing in-flight requests');
      const force = setTimeout(() => {
        berth.logger.warn('shutdown timed out; exiting with requests still in flight');
        process.exit(1);
      }, config.server.shutdownTimeoutMs);
      force.unref();
      berth.close().then(
        () => {
          berth.logger.info('stopped');
          process.exit(0);
        },
        (err: unknown) => {
          berth.logger.error({ err }, 'error during shutdown');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

/** Tells the operator where Berth listens, and the first admin's password once. */
function announce(config: ResolvedConfig, logger: Logger, listen: string, port: number, initialAdmin: RunningBerth['initialAdmin'], workers: number): void {
  const shown = config.server.publicUrl ?? `http://localhost:${port}`;
  logger.info({ url: { full: shown }, listen, workers, database: config.database.url.split(':', 1)[0], dataDir: config.dataDir }, 'berth is listening');
  const host = new URL(shown).host;
  if (initialAdmin) {
    // Shown on the terminal once, never written to the log.
    const { username, password, generated } = initialAdmin;
    process.stderr.write(
      generated
        ? `\nFirst start: created the administrator "${username}" with the password\n\n    ${password}\n\nIt is shown only now. Change it in the console, or set BERTH_ADMIN_PASSWORD on a fresh install.\n`
        : `\nFirst start: created the administrator "${username}" with the password from BERTH_ADMIN_PASSWORD.\n`,
    );
  }
  if (process.env.BERTH_BANNER !== '0') {
    process.stderr.write(
      `\nBerth is running at ${shown} (${workers} worker${workers === 1 ? '' : 's'})\n  console:  ${shown}/\n  registry: ${host}  (podman login --tls-verify=false ${host})\n  push:     podman push --tls-verify=false <image> ${host}/library/<name>:<tag>\n\n`,
    );
  }
}

registerMigrateStorage(program);
registerGc(program);
registerScrub(program);
registerTransfer(program);

const configCommand = program.command('config').description('inspect configuration');
configCommand
  .command('docs')
  .description('print the configuration reference (docs/config.md) generated from the schema')
  .option('-o, --output <file>', 'write to a file instead of stdout')
  .action((opts: { output?: string }) => {
    const text = configReference();
    if (opts.output) writeFileSync(opts.output, text);
    else process.stdout.write(text);
  });
configCommand
  .command('show')
  .description('print the effective configuration after file, environment and flags')
  .option('-c, --config <file>', 'YAML config file')
  .action((opts: { config?: string }) => {
    const config = loadConfig({ file: opts.config });
    const shown = JSON.stringify(
      { ...config, database: { ...config.database, url: config.database.url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@') } },
      (key, value: unknown) =>
        /password|secret|sessionToken|accountKey|connectionString|sasToken|encryptionKey|previousKeys/i.test(key) && (typeof value === 'string' || Array.isArray(value))
          ? typeof value === 'string'
            ? '***'
            : value.map(() => '***')
          : value,
      2,
    );
    process.stdout.write(`${shown}\n`);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`berth: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`berth: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
