import type { Redis } from 'ioredis';
import type { CrowdConfig } from '../../shared/config.js';
import { silentLogger, type Logger } from '../../shared/logger.js';
import type { InPlaceRetryOptions } from '../runtime/in-place-retry.js';
import { RequestBudget } from '../runtime/request-budget.js';
import { CrowdClient } from './client.js';
import { CrowdConnector } from './connector.js';
import { EventTokenStore } from './events.js';
import { CrowdMapping, loadMappingModule } from './mapping.js';

export { CrowdClient, normalizeBaseUrl, type CrowdClientOptions } from './client.js';
export { CrowdConnector } from './connector.js';
export { EventTokenStore } from './events.js';
export type { CrowdUser, UserBody } from './entities.js';
export { CrowdMapping, loadMappingModule, type CrowdMappingModule, type DesiredUser } from './mapping.js';
export { cqlDate, type ChangedSinceOptions, type ListUsersOptions } from './pull.js';
export { rolesFor } from './groups.js';

export interface CreateCrowdConnectorOptions {
  /**
   * Needed when `config.requestsPerSecond` is set: the request budget lives in Redis so
   * it holds across every worker process. Also keeps the `/event` token of incremental
   * pulls (`<prefix>:events:crowd`); without Redis they read users by `updatedDate`.
   */
  redis?: Redis;
  /** Key prefix for the budget (`<prefix>:budget:crowd`) and the event token. @defaultValue '{idsync}' */
  prefix?: string;
  logger?: Logger;
  /** Retries of one request inside an attempt, where safe. @defaultValue see InPlaceRetryOptions */
  retry?: InPlaceRetryOptions;
}

/**
 * Builds the Crowd connector from CROWD_* settings: loads the mapping module (if any),
 * sets up the request budget (if `requestsPerSecond` is set) and the HTTP client.
 * Rejects with a readable message when the mapping module cannot be loaded, or when a
 * budget is configured without Redis. Close it with `close()` (the runtime does).
 */
export async function createCrowdConnector(config: CrowdConfig, options: CreateCrowdConnectorOptions = {}): Promise<CrowdConnector> {
  const logger = (options.logger ?? silentLogger).child({ target: 'crowd' });
  let budget: RequestBudget | undefined;
  if (config.requestsPerSecond !== undefined) {
    if (!options.redis) throw new Error('CROWD_REQUESTS_PER_SECOND is set, so createCrowdConnector needs a Redis connection (options.redis) for the shared request budget');
    budget = new RequestBudget(options.redis, `${options.prefix ?? '{idsync}'}:budget:crowd`, { perSecond: config.requestsPerSecond, marginMs: config.requestsMarginMs });
  }
  const mapping = new CrowdMapping(await loadMappingModule(config.mappingModule));
  const client = new CrowdClient({
    url: config.url,
    applicationName: config.applicationName,
    applicationPassword: config.applicationPassword,
    timeoutMs: config.timeoutMs,
    budget,
    retry: options.retry,
  });
  const eventTokens = options.redis ? new EventTokenStore(options.redis, options.prefix ?? '{idsync}') : undefined;
  return new CrowdConnector({ client, mapping, deletePolicy: config.deletePolicy, roleMap: config.roleMap, logger, eventTokens });
}
