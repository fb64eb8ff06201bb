import type { Redis } from 'ioredis';
import type { IdsyncConfig } from '../shared/config.js';
import type { Target } from '../shared/jobs.js';
import type { Logger } from '../shared/logger.js';
import { createCrowdConnector } from './crowd/index.js';
import { createEntraConnector } from './entra/index.js';
import type { TargetConnector } from './runtime/connector.js';

export interface CreateConnectorsOptions {
  /** Holds the request budgets shared by every worker process (`<prefix>:budget:<target>`). */
  redis: Redis;
  logger: Logger;
}

/** Builds the connector of each configured target. */
export async function createConnectors(
  config: IdsyncConfig,
  options: CreateConnectorsOptions,
): Promise<Partial<Record<Target, TargetConnector>>> {
  const connectors: Partial<Record<Target, TargetConnector>> = {};
  const shared = { redis: options.redis, prefix: config.prefix, logger: options.logger };
  for (const target of config.targets) {
    switch (target) {
      case 'crowd':
        if (!config.crowd) throw new Error('the crowd target is selected but CROWD_URL, CROWD_APP_NAME and CROWD_APP_PASSWORD are not all set');
        connectors.crowd = await createCrowdConnector(config.crowd, shared);
        break;
      case 'entra':
        if (!config.entra) throw new Error('the entra target is selected but ENTRA_TENANT_ID and ENTRA_CLIENT_ID are not both set');
        connectors.entra = await createEntraConnector(config.entra, shared);
        break;
    }
  }
  return connectors;
}
