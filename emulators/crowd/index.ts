// Public API of the Crowd emulator: an in-memory Atlassian Crowd 5.x serving
// `/crowd/rest/usermanagement/1` for one application, with fault-injection knobs.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeAddressFilter, makeAuthChecker } from './access.js';
import { makeAdminHandler, parseFaults } from './admin.js';
import { type CrowdFaults, FaultInjector } from './faults.js';
import { TokenBucket } from './rate-limit.js';
import { type SeedGroup, type SeedUser, applySeed } from './seed.js';
import { ADMIN_PATH, CONTEXT_PATH, type Runtime, createHandler } from './server.js';
import { type CrowdEmulatorStats, StatsCollector } from './stats.js';
import { DirectoryStore } from './store.js';

export { DEFAULT_CROWD_FAULTS } from './faults.js';
export type { CrowdFaults, MalformedBodyKind } from './faults.js';
export type { SeedGroup, SeedUser } from './seed.js';
export type { CrowdEmulatorStats } from './stats.js';
export { CROWD_VERSION } from './server.js';

export interface CrowdEmulatorOptions {
  /** Default 0: a free port. */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Application name for HTTP Basic auth. Default 'idsync'. */
  applicationName?: string;
  /** Application password for HTTP Basic auth. Default 'idsync-secret'. */
  applicationPassword?: string;
  /** Remote-address allow-list (IPs, CIDRs, host names); others get Tomcat's HTML 403. Default: no restriction. */
  allowedAddresses?: string[];
  /** Default false: a PUT /user that changes the e-mail gets 403 APPLICATION_PERMISSION_DENIED, as on real Crowd. */
  allowEmailChange?: boolean;
  /** Directory id, the part of `key` before ':'. Default 32769 (Crowd's first internal directory). */
  directoryId?: number;
}

export interface CrowdConnectionInfo {
  /** Everything before `rest/usermanagement/1`, with a trailing slash: `http://127.0.0.1:PORT/crowd/`. */
  baseUrl: string;
  applicationName: string;
  applicationPassword: string;
}

/** The CROWD_* settings that point idsync at this emulator (used by `idsync start`, tests and benchmarks). */
export function crowdEnv(info: CrowdConnectionInfo): Record<'CROWD_URL' | 'CROWD_APP_NAME' | 'CROWD_APP_PASSWORD', string> {
  return { CROWD_URL: info.baseUrl, CROWD_APP_NAME: info.applicationName, CROWD_APP_PASSWORD: info.applicationPassword };
}

export interface CrowdEmulator {
  readonly info: CrowdConnectionInfo;
  /** Base URL of the admin endpoint, e.g. `http://127.0.0.1:PORT/_emulator`. */
  readonly adminUrl: string;
  /** Merges knobs, like `POST {adminUrl}/faults`. Throws on invalid values. */
  setFaults(f: Partial<CrowdFaults>): void;
  /** Drops all users and groups, restores default knobs and zeroes the counters. */
  reset(): void;
  /** Upserts users and groups (see SeedUser/SeedGroup). */
  seed(users: SeedUser[], groups?: SeedGroup[]): void;
  stats(): CrowdEmulatorStats;
  /**
   * What an administrator does in Crowd's console: the application password changes (or is
   * revoked by setting one nobody has); `info` keeps the password it started with.
   */
  setApplicationPassword(password: string): void;
  /** Expires every outstanding `/event` token (410 EVENT_TOKEN_EXPIRED), like `POST {adminUrl}/event-tokens/expire`. */
  expireEventTokens(): void;
  close(): Promise<void>;
}

export async function startCrowdEmulator(options: CrowdEmulatorOptions = {}): Promise<CrowdEmulator> {
  const host = options.host ?? '127.0.0.1';
  const applicationName = options.applicationName ?? 'idsync';
  const applicationPassword = options.applicationPassword ?? 'idsync-secret';
  const store = new DirectoryStore(options.directoryId ?? 32769);
  const faults = new FaultInjector();
  const bucket = new TokenBucket();
  const stats = new StatsCollector();
  const credentials = { name: applicationName, password: applicationPassword };
  const addressAllowed = options.allowedAddresses ? await makeAddressFilter(options.allowedAddresses) : null;

  // Known only once the server listens; the admin `GET /` reads it lazily.
  const endpoint: { info?: CrowdConnectionInfo; adminUrl?: string } = {};

  const actions = {
    info: () => ({ ...endpoint.info, adminUrl: endpoint.adminUrl }),
    faults: () => faults.current,
    setFaults: (patch: Partial<CrowdFaults>) => faults.set(parseFaults(patch)),
    clearFaults: () => faults.reset(),
    seed: (users: SeedUser[], groups: SeedGroup[] = []) => applySeed(store, users, groups),
    reset: () => {
      store.clear();
      faults.reset();
      stats.reset();
    },
    stats: () => stats.snapshot(store.userCount, store.groupCount),
    clearStats: () => stats.reset(),
    setApplicationPassword: (password: string) => {
      credentials.password = password;
    },
    expireEventTokens: () => store.events.expireTokens(),
  };

  const runtime: Runtime = {
    store,
    faults,
    bucket,
    stats,
    settings: { applicationName, allowEmailChange: options.allowEmailChange ?? false },
    checkAuth: makeAuthChecker(credentials),
    addressAllowed,
    admin: makeAdminHandler(actions),
    timers: new Set(),
  };

  const server = createServer({ keepAlive: true }, createHandler(runtime));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  const port = (server.address() as AddressInfo).port;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const origin = `http://${shownHost}:${port}`;
  const info: CrowdConnectionInfo = { baseUrl: `${origin}${CONTEXT_PATH}/`, applicationName, applicationPassword };
  const adminUrl = `${origin}${ADMIN_PATH}`;
  endpoint.info = info;
  endpoint.adminUrl = adminUrl;

  return {
    info,
    adminUrl,
    setFaults: actions.setFaults,
    reset: actions.reset,
    seed: (users, groups) => actions.seed(users, groups),
    stats: actions.stats,
    setApplicationPassword: actions.setApplicationPassword,
    expireEventTokens: actions.expireEventTokens,
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const t of runtime.timers) clearTimeout(t);
        runtime.timers.clear();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
