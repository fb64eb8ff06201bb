import type { Server } from 'node:https';
import { AppRegistry, SYNC_WORKER_ROLES, type AppRegistrationInput, type RegisteredApp } from './apps.js';
import type { AdminTarget } from './admin.js';
import { issueServerCertificate, loadOrCreateAuthority } from './certificates.js';
import { Clock } from './clock.js';
import { emptyStats, type Core, type EntraStats } from './core.js';
import { setDeltaRepeatEdits } from './delta.js';
import { Directory, isoSeconds, type Domain } from './directory.js';
import { defaultFaults, type EntraFaults } from './faults.js';
import { seed as seedDirectory, type SeedInput, type SeedResult } from './seed.js';
import { boundPort, serve } from './server.js';
import { loadOrCreateSigningKey } from './signing-key.js';
import { Throttle, tenantSizeFor } from './throttling.js';
import { prng } from '../prng.js';

export { ensureCertificateAuthority, createClientCertificate } from './certificates.js';
export { SYNC_WORKER_ROLES, USER_ADMINISTRATOR_ROLE } from './apps.js';
export type { AppRegistrationInput, RegisteredApp } from './apps.js';
export type { EntraFaults } from './faults.js';
export { DEFAULT_FAULTS } from './faults.js';
export type { EntraStats } from './core.js';
export type { SeedInput, SeedResult, SeedUser, SeedGroup } from './seed.js';

export const DEFAULT_TENANT_ID = 'b5c8a3e2-6f1d-4c7a-9e2b-1d5e7f9a0c3d';
export const DEFAULT_CLIENT_ID = '2f7e1c9a-4b3d-4e8f-a6c1-9d0b5e3f7a21';
export const DEFAULT_CLIENT_SECRET = 'Emu8Q~idsync.entra-emulator.dev-secret-0001';
export const DEFAULT_DOMAIN = 'idsyncdev.onmicrosoft.com';

export interface EntraEmulatorOptions {
  /** Default 0 = a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Holds ca.pem / ca-key.pem and the token-signing key. Default `.idsync/entra`. */
  stateDir?: string;
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
  /** A PEM certificate registered on the default app, for ClientCertificateCredential. */
  clientCertificatePem?: string;
  /** 1 = real Graph time; 0.01 = quota windows, delta-token life and deleted-item retention 100x shorter. */
  timeScale?: number;
  /** The initial `*.onmicrosoft.com` domain (default, verified). */
  initialDomain?: string;
  /** More verified domains; federated ones require onPremisesImmutableId on create. */
  domains?: Array<string | { name: string; federated?: boolean; isDefault?: boolean }>;
  organizationName?: string;
  /** `expires_in` of issued access tokens; keep it above 300 s or MSAL refreshes on every call. */
  accessTokenLifetimeSeconds?: number;
  /** Initial knobs (also what reset() returns to). */
  faults?: Partial<EntraFaults>;
  /** Seed of the PRNGs behind random faults and the `$batch` response order, so runs repeat. */
  randomSeed?: number;
  /** Further app registrations. */
  apps?: AppRegistrationInput[];
}

export interface EntraConnectionInfo {
  graphBaseUrl: string;
  authorityHost: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  caFile: string;
}

/** The ENTRA_* settings that point idsync at this emulator (used by `idsync start`, tests and benchmarks). */
export function entraEnv(info: EntraConnectionInfo): Record<'ENTRA_TENANT_ID' | 'ENTRA_CLIENT_ID' | 'ENTRA_CLIENT_SECRET' | 'ENTRA_AUTHORITY_HOST' | 'GRAPH_BASE_URL', string> {
  return {
    ENTRA_TENANT_ID: info.tenantId,
    ENTRA_CLIENT_ID: info.clientId,
    ENTRA_CLIENT_SECRET: info.clientSecret,
    ENTRA_AUTHORITY_HOST: info.authorityHost,
    GRAPH_BASE_URL: info.graphBaseUrl,
  };
}

export interface EntraStatsSnapshot extends EntraStats {
  users: number;
  deletedUsers: number;
  groups: number;
  tenantSize: 'S' | 'M' | 'L';
}

export interface EntraEmulator {
  readonly info: EntraConnectionInfo;
  readonly adminUrl: string;
  readonly faults: Readonly<EntraFaults>;
  setFaults(f: Partial<EntraFaults>): void;
  registerApp(app: AppRegistrationInput): RegisteredApp;
  /**
   * The app's client secrets pass their end date (default: the default app): token requests
   * with them answer AADSTS7000222; tokens already issued work until they expire. Registering
   * the app again with a secret is the operator's fix.
   */
  expireClientSecrets(clientId?: string): void;
  /** Empties the tenant, stats, throttle buckets and knobs; app registrations stay. */
  reset(): void;
  seed(input: SeedInput): SeedResult;
  stats(): EntraStatsSnapshot;
  resetStats(): void;
  /** Moves the emulator clock forward (token expiry, delta-token age, retention, quota refill). */
  advanceClock(ms: number): void;
  /** Every outstanding delta token now answers 400 syncStateNotFound. */
  expireDeltaTokens(): void;
  /** Every outstanding delta token now answers 410 Gone with a Location to restart from. */
  forceDeltaReset(): void;
  /**
   * With `deltaDuplicates`, the user a delta page repeats is edited with these (string)
   * properties just before it is served again, so the repeat is newer than its first copy.
   * `undefined` turns it off; `reset()` too.
   */
  setDeltaRepeatEdits(changes: Record<string, string | null> | undefined): void;
  close(): Promise<void>;
}

function domainsFrom(options: EntraEmulatorOptions): Domain[] {
  const initial = options.initialDomain ?? DEFAULT_DOMAIN;
  const extra = (options.domains ?? []).map((d) => (typeof d === 'string' ? { name: d } : d));
  const anyDefault = extra.some((d) => d.isDefault);
  return [
    { name: initial, isInitial: true, isDefault: !anyDefault, federated: false },
    ...extra.map((d) => ({ name: d.name, isInitial: false, isDefault: d.isDefault ?? false, federated: d.federated ?? false })),
  ];
}

class Emulator implements EntraEmulator {
  readonly adminUrl: string;
  private server: Server | undefined;

  constructor(
    private readonly core: Core,
    private readonly baseFaults: EntraFaults,
    readonly info: EntraConnectionInfo,
    server: Server,
  ) {
    this.server = server;
    this.adminUrl = `${info.authorityHost}/_admin`;
  }

  get faults(): Readonly<EntraFaults> {
    return this.core.faults;
  }

  setFaults(f: Partial<EntraFaults>): void {
    this.core.faults = { ...this.core.faults, ...f };
  }

  registerApp(app: AppRegistrationInput): RegisteredApp {
    return this.core.apps.register(app);
  }

  expireClientSecrets(clientId = this.info.clientId): void {
    this.core.apps.expireSecrets(clientId);
  }

  reset(): void {
    const c = this.core;
    c.directory.clear();
    c.throttle.reset();
    c.clock.reset();
    c.stats = emptyStats();
    c.faults = { ...this.baseFaults, errorStatuses: [...this.baseFaults.errorStatuses] };
    c.deltaGeneration++;
    c.deltaNotBefore = 0;
  }

  seed(input: SeedInput): SeedResult {
    return seedDirectory(this.core, input);
  }

  stats(): EntraStatsSnapshot {
    const c = this.core;
    const users = c.directory.users.size;
    return {
      ...c.stats,
      byStatus: { ...c.stats.byStatus },
      users,
      deletedUsers: c.directory.deleted.size,
      groups: c.directory.groups.size,
      tenantSize: c.faults.tenantSize === 'auto' ? tenantSizeFor(users) : c.faults.tenantSize,
    };
  }

  resetStats(): void {
    this.core.stats = emptyStats();
  }

  advanceClock(ms: number): void {
    this.core.clock.advance(ms);
  }

  expireDeltaTokens(): void {
    this.core.deltaNotBefore = this.core.clock.now() + 1;
  }

  forceDeltaReset(): void {
    this.core.deltaGeneration++;
  }

  setDeltaRepeatEdits(changes: Record<string, string | null> | undefined): void {
    setDeltaRepeatEdits(this.core, changes);
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

export async function startEntraEmulator(options: EntraEmulatorOptions = {}): Promise<EntraEmulator> {
  const stateDir = options.stateDir ?? '.idsync/entra';
  const ca = await loadOrCreateAuthority(stateDir);
  const [tls, signingKey] = await Promise.all([issueServerCertificate(ca), loadOrCreateSigningKey(stateDir)]);
  const tenantId = (options.tenantId ?? DEFAULT_TENANT_ID).toLowerCase();
  const clientId = options.clientId ?? DEFAULT_CLIENT_ID;
  const clientSecret = options.clientSecret ?? DEFAULT_CLIENT_SECRET;
  const apps = new AppRegistry();
  apps.register({ clientId, clientSecret, roles: [...SYNC_WORKER_ROLES], passwordAdministrator: true, displayName: 'idsync sync worker' });
  if (options.clientCertificatePem) apps.addCertificate(clientId, options.clientCertificatePem);
  for (const extra of options.apps ?? []) apps.register(extra);
  const clock = new Clock(options.timeScale ?? 1);
  const baseFaults = { ...defaultFaults(), ...options.faults };
  const core: Core = {
    tenantId,
    clock,
    apps,
    signingKey,
    directory: new Directory(domainsFrom(options)),
    throttle: new Throttle(clock),
    organization: { displayName: options.organizationName ?? 'idsync Emulated Tenant', createdDateTime: isoSeconds(Date.now()) },
    accessTokenLifetimeSeconds: options.accessTokenLifetimeSeconds ?? 3599,
    random: prng(options.randomSeed ?? 0x1d5c),
    batchOrder: prng((options.randomSeed ?? 0x1d5c) ^ 0x5eed),
    faults: { ...baseFaults, errorStatuses: [...baseFaults.errorStatuses] },
    stats: emptyStats(),
    deltaGeneration: 1,
    deltaNotBefore: 0,
  };
  const host = options.host ?? '127.0.0.1';
  // The admin routes need the instance, which needs the bound port: resolve it late.
  const late: { emulator?: Emulator } = {};
  const self = (): Emulator => late.emulator!;
  const admin: AdminTarget = {
    info: () => self().info,
    stats: () => self().stats(),
    resetStats: () => self().resetStats(),
    reset: () => self().reset(),
    seed: (i) => self().seed(i),
    faults: () => ({ ...self().faults }),
    setFaults: (f) => self().setFaults(f),
    registerApp: (a) => self().registerApp(a),
    expireClientSecrets: (id) => self().expireClientSecrets(id),
    expireDeltaTokens: () => self().expireDeltaTokens(),
    forceDeltaReset: () => self().forceDeltaReset(),
    setDeltaRepeatEdits: (c) => self().setDeltaRepeatEdits(c),
    advanceClock: (ms) => self().advanceClock(ms),
  };
  const server = await serve(core, admin, tls, host, options.port ?? 0);
  const port = boundPort(server);
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const authorityHost = `https://${hostPart}:${port}`;
  late.emulator = new Emulator(core, baseFaults, { graphBaseUrl: `${authorityHost}/`, authorityHost, tenantId, clientId, clientSecret, caFile: ca.caFile }, server);
  return late.emulator;
}
