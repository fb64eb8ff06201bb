import type { Redis } from 'ioredis';
import type { SyncConfig } from '../../shared/config.js';
import type { Target } from '../../shared/jobs.js';
import type { LinkStore } from '../../shared/links.js';
import type { Logger } from '../../shared/logger.js';
import type { UserDirectory } from '../app/directory.js';
import type { SyncConnector } from '../runtime/connector.js';
import type { ProgressReporter } from './progress.js';
import type { SyncQueues } from './queues.js';

/** What every sync run of one target works with (full sync, planning, incremental pull). */
export interface TargetSyncDeps {
  redis: Redis;
  prefix: string;
  target: Target;
  connector: SyncConnector;
  directory: UserDirectory;
  links: LinkStore;
  queues: SyncQueues;
  sync: SyncConfig;
  progress: ProgressReporter;
  logger: Logger;
  abortSignal?: AbortSignal;
}
