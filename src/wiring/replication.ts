import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import type { Database } from '../adapters/db/connect.js';
import { KyselyEndpointStore } from '../adapters/db/kysely-endpoint-store.js';
import { AesSecretBox } from '../adapters/crypto/secret-box.js';
import { RegistryClient } from '../adapters/upstream/registry-client.js';
import type { Outbound } from '../ports/outbound.js';
import { EndpointService } from '../services/replication/endpoint-service.js';

export interface ReplicationDependencies {
  outbound: Outbound;
  logger: Logger;
}

/** Moving images between sites (docs/replication.md): registry endpoints so far. */
export interface Replication {
  endpoints: EndpointService;
}

/**
 * The key that seals endpoint credentials: `secrets.encryptionKey`, or a random one kept in
 * dataDir/secrets.key (made on first use, readable by the owner only). Instances sharing a
 * database must be given the same key in their configuration.
 */
async function encryptionKey(config: ResolvedConfig, logger: Logger): Promise<string> {
  if (config.secrets.encryptionKey) return config.secrets.encryptionKey;
  const file = join(config.dataDir, 'secrets.key');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(config.dataDir, { recursive: true });
  const key = randomBytes(32).toString('base64url');
  try {
    // 'wx': a sibling worker that made it first wins, and this one reads that.
    await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return (await readFile(file, 'utf8')).trim();
    throw err;
  }
  if (config.database.url.startsWith('postgres')) {
    logger.warn({ file }, 'made a key for stored credentials in the data directory; instances sharing this database need the same key: set secrets.encryptionKey');
  }
  return key;
}

export async function wireReplication(database: Database, config: ResolvedConfig, deps: ReplicationDependencies): Promise<Replication> {
  const box = new AesSecretBox(await encryptionKey(config, deps.logger), config.secrets.previousKeys);
  const endpoints = new EndpointService(new KyselyEndpointStore(database), box, deps.outbound, ({ url, credentials, feature }) =>
    new RegistryClient({ outbound: deps.outbound, feature, url, credentials, maxManifestBytes: config.registry.maxManifestBytes }),
  );
  if (config.secrets.previousKeys.length > 0) {
    const resealed = await endpoints.reseal();
    if (resealed > 0) deps.logger.info({ resealed }, 'stored credentials encrypted again with secrets.encryptionKey');
  }
  return { endpoints };
}
