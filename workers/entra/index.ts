import type { Redis } from 'ioredis';
import type { EntraConfig } from '../../shared/config.js';
import { silentLogger, type Logger } from '../../shared/logger.js';
import type { InPlaceRetryOptions } from '../runtime/in-place-retry.js';
import { RequestBudget } from '../runtime/request-budget.js';
import type { BatcherOptions } from './batcher.js';
import { GraphClient } from './client.js';
import { EntraConnector } from './connector.js';
import type { ConsistencyOptions } from './consistency.js';
import { AppCredential, checkCertificateFile } from './credentials.js';
import { DeltaStore } from './delta.js';
import { GroupDirectory } from './groups.js';
import { EntraMapping, loadMappingModule } from './mapping.js';
import { PhotoStore } from './photos.js';

export { GraphClient, withQuery, type GraphClientOptions, type GraphReply } from './client.js';
export { EntraConnector, type EntraConnectorDeps } from './connector.js';
export type { ConsistencyOptions } from './consistency.js';
export { AppCredential, GRAPH_SCOPE, rolesOf } from './credentials.js';
export { DeltaStore, type DeltaChange, type DeltaOptions } from './delta.js';
export { WriteBatcher, type BatcherOptions, type BatchItem } from './batcher.js';
export { EntraMapping, defaultUserPrincipalName, loadMappingModule, mailNicknameFor, type DesiredUser, type EntraMappingModule, type GraphUserBody } from './mapping.js';
export { PASSWORD_PERMISSION, PERMISSION } from './permissions.js';
export type { ListUsersOptions, PullOptions } from './pull.js';

export interface CreateEntraConnectorOptions {
  /**
   * Holds the shared write budget (`<prefix>:budget:entra`, every worker process of the
   * app+tenant takes from it), the delta link and the photo hashes.
   */
  redis: Redis;
  /** Key prefix. @defaultValue '{idsync}' */
  prefix?: string;
  logger?: Logger;
  /** `$batch` coalescing and per-item retries. @defaultValue 20 items, 5 ms linger, 3 per-item 429/503 retries, 3 resends of an idempotent item */
  batch?: BatcherOptions;
  /** Retries of one read inside an attempt, where safe (writes: `batch`). @defaultValue see InPlaceRetryOptions */
  retry?: InPlaceRetryOptions;
  /** Waiting out Graph's eventual consistency after a create or restore. @defaultValue 5 reads, 500 ms apart */
  consistency?: ConsistencyOptions;
  /** `forceChangePasswordNextSignIn` of password jobs. @defaultValue false */
  forcePasswordChange?: boolean;
  /** Read the profile photo on pull-user jobs. @defaultValue true */
  pullPhotos?: boolean;
}

/**
 * Builds the Entra connector from ENTRA_* settings: checks the certificate file (if any),
 * loads the mapping module (if any), and sets up the credential, the Graph client with its
 * `$batch` writer and the write budget (`config.writesPerSecond`, Graph's 3,000 writes per
 * 150 s per app+tenant being 20/s). Rejects with a readable message when something is
 * missing. Close it with `close()` (the runtime does).
 */
export async function createEntraConnector(config: EntraConfig, options: CreateEntraConnectorOptions): Promise<EntraConnector> {
  if (!options?.redis) throw new Error('createEntraConnector needs a Redis connection (options.redis) for the shared write budget');
  const prefix = options.prefix ?? '{idsync}';
  const logger = (options.logger ?? silentLogger).child({ target: 'entra' });
  if (config.clientCertificatePath) await checkCertificateFile(config.clientCertificatePath);
  else if (!config.clientSecret) throw new Error('the entra target needs ENTRA_CLIENT_SECRET or ENTRA_CLIENT_CERTIFICATE_PATH');
  const mapping = new EntraMapping(await loadMappingModule(config.mappingModule));
  const credential = new AppCredential({
    tenantId: config.tenantId,
    clientId: config.clientId,
    clientSecret: config.clientSecret,
    clientCertificatePath: config.clientCertificatePath,
    authorityHost: config.authorityHost,
    timeoutMs: config.timeoutMs,
  });
  // Graph counts writes over 150 s, where a request a few ms behind its slot cannot crowd a window: no margin.
  const budget = new RequestBudget(options.redis, `${prefix}:budget:entra`, { perSecond: config.writesPerSecond, marginMs: 0 });
  const client = new GraphClient({ graphBaseUrl: config.graphBaseUrl, credential, timeoutMs: config.timeoutMs, budget, ...(options.batch && { batch: options.batch }), ...(options.retry && { retry: options.retry }) });
  return new EntraConnector({
    client,
    mapping,
    groups: new GroupDirectory(client),
    photos: new PhotoStore(options.redis, prefix, logger),
    delta: new DeltaStore(options.redis, prefix),
    deletePolicy: config.deletePolicy,
    matchAttributes: config.matchAttributes.length ? config.matchAttributes : ['userPrincipalName'],
    upnDomain: config.upnDomain,
    logger,
    ...(options.consistency && { consistency: options.consistency }),
    ...(options.forcePasswordChange !== undefined && { forcePasswordChange: options.forcePasswordChange }),
    ...(options.pullPhotos !== undefined && { pullPhotos: options.pullPhotos }),
  });
}
