import type { Target } from '../../shared/jobs.js';
import type { SyncClient } from '../../producers/client.js';
import type { AcceptContext } from './accept.js';

/** What every ingest route needs. */
export interface IngestContext extends AcceptContext {
  client: SyncClient;
  targets: readonly Target[];
  /** False without IDSYNC_SECRET_KEY: passwords are then refused, never sent in clear. */
  passwordsEnabled: boolean;
}
