import type { AppRegistry } from './apps.js';
import type { Clock } from './clock.js';
import type { Directory } from './directory.js';
import type { EntraFaults } from './faults.js';
import type { SigningKey } from './signing-key.js';
import type { Throttle } from './throttling.js';

export interface EntraStats {
  /** HTTPS requests received (token endpoint and Graph; admin routes excluded). */
  requests: number;
  tokenRequests: number;
  tokensIssued: number;
  /** Top-level /v1.0 requests, `$batch` envelopes included. */
  graphRequests: number;
  batchRequests: number;
  batchItems: number;
  /** 429s sent, top-level and per batch item. */
  throttled: number;
  /** Writes admitted by the throttle (POST/PATCH/PUT/DELETE, per batch item). */
  writes: number;
  /** Resource units charged to admitted requests. */
  resourceUnits: number;
  faultsInjected: number;
  /** Top-level replies garbled by the malformed-body fault (also counted in faultsInjected). */
  malformed: number;
  /** Top-level connections reset by the reset fault. */
  resets: number;
  /** Top-level replies held back by the stall fault (timeouts as the client sees them). */
  stalls: number;
  /** Graph operations (batch items included) by status code. */
  byStatus: Record<string, number>;
}

export function emptyStats(): EntraStats {
  return {
    requests: 0,
    tokenRequests: 0,
    tokensIssued: 0,
    graphRequests: 0,
    batchRequests: 0,
    batchItems: 0,
    throttled: 0,
    writes: 0,
    resourceUnits: 0,
    faultsInjected: 0,
    malformed: 0,
    resets: 0,
    stalls: 0,
    byStatus: {},
  };
}

export interface Organization {
  displayName: string;
  createdDateTime: string;
}

/** Everything handlers share; owned by the emulator instance. */
export interface Core {
  readonly tenantId: string;
  readonly clock: Clock;
  readonly apps: AppRegistry;
  readonly signingKey: SigningKey;
  readonly directory: Directory;
  readonly throttle: Throttle;
  readonly organization: Organization;
  readonly accessTokenLifetimeSeconds: number;
  readonly random: () => number;
  /** Orders `$batch` responses; apart from `random` so shuffling never shifts the fault draws. */
  readonly batchOrder: () => number;
  faults: EntraFaults;
  stats: EntraStats;
  /** Bumped to force 410 resyncs on outstanding delta tokens. */
  deltaGeneration: number;
  /** Delta tokens issued before this instant are expired. */
  deltaNotBefore: number;
}

/** Deleted items stay restorable for 30 days (scaled by timeScale). */
export const DELETED_RETENTION_SECONDS = 30 * 86_400;

export function visibleAfterCreate(core: Core): number {
  return core.clock.now() + core.faults.eventualConsistencyMs;
}
