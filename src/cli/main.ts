#!/usr/bin/env node
import cluster from 'node:cluster';
import nodeModule from 'node:module';
import { writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import { peekSettings, type ConfigSources } from '../config/sources.js';
import { createLogger, isLogLevel } from '../wiring/logger.js';
import type { PublishedInvalidation } from '../ports/invalidation-bus.js';
import { runPrimary, workerChannel, type Serving } from './cluster.js';
import type { InitialAdmin } from '../wiring/identity.js';
import { exitCodeFor, exitCodes } from './exit-codes.js';
import { printError } from './output.js';
import { settingFlags } from './set-flags.js';
import { collectOnceSettled } from './idle-collection.js';
import { defaultWorkers } from './worker-count.js';
import { heapRoom } from './heap-room.js';

// Node.js 22.1 and later keep V8's compiled code of what loads from here on (the server's
// chunks) in a cache directory (NODE_COMPILE_CACHE, by default in the temporary directory), so
// later starts and every worker skip compiling it; Node.js 20 has no such cache.
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();

const program = new Command();
program.name('berth').description('Berth: a container image registry and artifact hub').showHelpAfterError();
// Usage mistakes throw (and every command inherits this) so they exit 2, as docs/cli.md's table says.
program.exitOverride();

program
  .command('serve', { isDefault: true })
  .description('run the registry')
  .option('-c, --config <file>', 'YAML config file (also BERTH_CONFIG)')
  .option('--host <address>', 'address to listen on (server.host)')
  .option('-p, --port <port>', 'port to listen on (server.port)')
  .option('--data-dir <dir>', 'data directory (dataDir)')
  .option('--database-url <url>', 'sqlite:<path> or postgres://… (database.url)')
  .addOption(new Option('--log-level <level>', 'log level (log.level)'))
  .option('-w, --workers <n>', 'processes serving the port; 0 = one per CPU core, one on 2 cores or fewer (server.workers)')
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
    const sources: ConfigSources = { file: opts.config as string | undefined, flags };
    if (cluster.isPrimary) {
      // The primary only supervises: the registry itself (and first-start work) is the workers'.
      // It reads the two settings it needs as given; the first worker loads and validates the
      // whole configuration, and the primary exits with its code when it cannot start.
      const [givenWorkers, givenLevel] = await peekSettings(sources, [
        ['server', 'workers'],
        ['log', 'level'],
      ]);
      const workers = clusterWorkers(givenWorkers);
      if (workers !== undefined) return supervise(workers, givenLevel);
    }
    const { loadConfig } = await import('../config/load.js');
    const config = loadConfig(sources);
    const channel = workerChannel();
    // The peeked value was not one the primary could use, and the configuration is valid after all.
    if (cluster.isPrimary && config.server.workers !== 1) return supervise(clusterWorkers(config.server.workers)!, config.log.level);

    const { startBerth } = await import('../server.js');
    // A change here (users, robots, projects, keys, settings, a repository's tags) answers its
    // request only once the other workers forgot what it changes (or after a second), so the
    // next request sees it wherever it lands.
    const relayed = new Map<string, () => void>();
    let changes = 0;
    const relay = (invalidation: PublishedInvalidation): Promise<void> | undefined => {
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
        channel.send({ berth: 'changed', key, invalidation });
      });
    };
    const berth = await startBerth(config, {
      relay: channel ? relay : undefined,
      siblingGroup: channel ? process.env.BERTH_SIBLING_GROUP : undefined,
      onLargeBody: heapRoom()?.open,
    });
    collectOnceSettled();
    if (channel) {
      channel.onMessage((message) => {
        if (message.berth === 'forget') {
          void berth.apply(message.invalidation).then(() => channel.send({ berth: 'forgotten', key: message.key }));
        } else if (message.berth === 'relayed') {
          relayed.get(message.key)?.();
        }
      });
      channel.send({ berth: 'listening', url: berth.url, port: berth.port, initialAdmin: berth.initialAdmin, serving: servingOf(config) });
      // The primary is gone (killed): nobody will route requests here any more.
      process.on('disconnect', () => void berth.close().finally(() => process.exit(0)));
    } else {
      announce(servingOf(config), berth.logger, berth.url, berth.port, berth.initialAdmin, 1);
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

/**
 * How many workers a cluster primary forks for the `server.workers` setting as given (a number,
 * or a string from the command line or the environment): one per core or one (0, or not set),
 * or the number. Undefined for 1 (one process alone) and for a value the schema would refuse.
 */
function clusterWorkers(given: unknown): number | undefined {
  const workers = given === undefined ? 0 : typeof given === 'string' && /^\d+$/.test(given.trim()) ? Number(given) : given;
  if (typeof workers !== 'number' || !Number.isInteger(workers) || workers < 0 || workers > 256 || workers === 1) return undefined;
  // Chosen automatically (0), even one worker runs under the primary: it gets a worker's memory
  // settings (cluster.ts) and is restarted when it dies. `--workers 1` is one process alone.
  return workers === 0 ? defaultWorkers() : workers;
}

/** Runs this process as the cluster primary of `workers` workers, logging at `level` (a level pino knows, or info). */
function supervise(workers: number, level: unknown): void {
  const logger = createLogger(isLogLevel(level) ? level : 'info');
  runPrimary({ workers, logger, onListening: (url, port, initialAdmin, serving) => announce(serving, logger, url, port, initialAdmin, workers) });
}

/** What the operator is told of a serving configuration (the cluster's first worker sends it to the primary). */
function servingOf(config: ResolvedConfig): Serving {
  return {
    publicUrl: config.server.publicUrl,
    database: config.database.url.split(':', 1)[0]!,
    dataDir: config.dataDir,
    shutdownTimeoutMs: config.server.shutdownTimeoutMs,
  };
}

/** Tells the operator where Berth listens, and the first admin's password once. */
function announce(serving: Serving, logger: Logger, listen: string, port: number, initialAdmin: InitialAdmin | undefined, workers: number): void {
  const shown = serving.publicUrl ?? `http://localhost:${port}`;
  logger.info({ url: { full: shown }, listen, workers, database: serving.database, dataDir: serving.dataDir }, 'berth is listening');
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

/**
 * The other commands, each loaded only when it runs (or for help): `serve` in a cluster
 * primary then loads no more than it needs to supervise.
 */
const commands: Array<{ names: string[]; register: () => Promise<(program: Command) => void> }> = [
  { names: ['migrate-storage'], register: async () => (await import('./migrate-storage.js')).registerMigrateStorage },
  { names: ['gc'], register: async () => (await import('./gc.js')).registerGc },
  { names: ['scrub'], register: async () => (await import('./scrub.js')).registerScrub },
  { names: ['copy', 'export', 'import'], register: async () => (await import('./transfer.js')).registerTransfer },
  { names: ['backup', 'restore'], register: async () => (await import('./backup.js')).registerBackup },
  { names: ['user'], register: async () => (await import('./users.js')).registerUsers },
  { names: ['project'], register: async () => (await import('./projects.js')).registerProjects },
  { names: ['robot'], register: async () => (await import('./robots.js')).registerRobots },
  { names: ['doctor'], register: async () => (await import('./doctor.js')).registerDoctor },
  { names: ['vulndb'], register: async () => (await import('./vulndb.js')).registerVulndb },
  { names: ['inspect'], register: async () => (await import('./inspect.js')).registerInspect },
  { names: ['search'], register: async () => (await import('./search.js')).registerSearch },
];
const named = process.argv.slice(2).find((arg) => !arg.startsWith('-'));
// Help lists every command, and an unknown word (a typo) gets commander's suggestions.
const everyCommand =
  named === undefined ? process.argv.includes('-h') || process.argv.includes('--help') : named === 'help' || !isKnown(named);
for (const command of commands) {
  if (everyCommand || (named !== undefined && command.names.includes(named))) (await command.register())(program);
}

/** Whether `name` is a command main.ts defines itself (serve, config) or a loader names. */
function isKnown(name: string): boolean {
  return ['serve', 'config'].includes(name) || commands.some((c) => c.names.includes(name));
}

const configCommand = program.command('config').description('inspect configuration');
configCommand
  .command('docs')
  .description('print the configuration reference (docs/config.md) generated from the schema')
  .option('-o, --output <file>', 'write to a file instead of stdout')
  .action(async (opts: { output?: string }) => {
    const text = (await import('../config/load.js')).configReference();
    if (opts.output) writeFileSync(opts.output, text);
    else process.stdout.write(text);
  });
configCommand
  .command('show')
  .description('print the effective configuration after file, environment and flags')
  .option('-c, --config <file>', 'YAML config file')
  .action(async (opts: { config?: string }) => {
    const config = (await import('../config/load.js')).loadConfig({ file: opts.config });
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

// `serve` is the default command, which would take an unknown first word as its own argument
// ("too many arguments for 'serve'"): a typo is named as one instead.
const first = process.argv[2];
if (first !== undefined && !first.startsWith('-') && first !== 'help' && !isKnown(first)) {
  const names = ['serve', 'config', ...commands.flatMap((c) => c.names)];
  process.stderr.write(`error: unknown command '${first}' (commands: ${names.join(', ')}; berth --help says more)\n`);
  process.exit(exitCodes.usage);
}

program.parseAsync(process.argv).catch((err: unknown) => {
  const error = (err ?? {}) as Error & { key?: string; code?: string; exitCode?: number };
  const code = exitCodeFor(error);
  // Commander has printed its own message (or the help) already.
  if (error.code?.startsWith('commander.')) process.exit(code);
  // Errors a user acts on get their message; others keep their stack for a bug report. By name,
  // not instanceof: importing the database module here would load it in the cluster primary.
  const expected = ['ConfigError', 'BerthError', 'SchemaTooNewError'].includes(error.name);
  const kind = error.name === 'BerthError' ? error.code! : error.name === 'ConfigError' ? 'CONFIG_INVALID' : error.name === 'SchemaTooNewError' ? 'SCHEMA_TOO_NEW' : 'FAILED';
  printError(kind, error.message, `berth: ${expected ? error.message : (error.stack ?? String(err))}`);
  process.exit(code);
});
