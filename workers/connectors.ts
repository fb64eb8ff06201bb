import type { IdsyncConfig } from '../shared/config.js';
import type { Target } from '../shared/jobs.js';
import type { Logger } from '../shared/logger.js';
import type { TargetConnector } from './runtime/connector.js';

/** Builds the connector of each configured target. */
export async function createConnectors(config: IdsyncConfig, _logger: Logger): Promise<Partial<Record<Target, TargetConnector>>> {
  const connectors: Partial<Record<Target, TargetConnector>> = {};
  for (const target of config.targets) {
    throw new Error(`the ${target} connector is not available in this build`);
  }
  return connectors;
}
