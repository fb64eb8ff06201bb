// Plumbing for the Entra worker suites: the emulator, the real connector in a real
// TargetWorker (test/helpers/harness.ts), and a plain fetch client that checks the tenant's
// state through Graph itself, with a token from the emulator.
import { ClientSecretCredential } from '@azure/identity';
import type { Redis } from 'ioredis';
import { loadConfig, type EntraConfig } from '../../../shared/config.js';
import type { Logger } from '../../../shared/logger.js';
import type { TargetWorkerOptions } from '../../../workers/runtime/target-worker.js';
import { DEFAULT_DOMAIN, entraEnv, startEntraEmulator, type EntraEmulator, type EntraEmulatorOptions, type EntraStatsSnapshot } from '../../../emulators/entra/index.js';
import { createEntraConnector, GRAPH_SCOPE, type CreateEntraConnectorOptions, type EntraConnector } from '../../../workers/entra/index.js';
import type { SyncClientOptions } from '../../../producers/client-options.js';
import { startHarness, type Harness } from '../../helpers/harness.js';

export const DOMAIN = DEFAULT_DOMAIN;

/**
 * Graph time runs 100x faster (quota windows, Retry-After, token and retention clocks), so
 * throttling and expiry happen within a test's time.
 */
export function startEmulator(options: EntraEmulatorOptions = {}): Promise<EntraEmulator> {
  return startEntraEmulator({ port: 0, timeScale: 0.01, ...options });
}

export function entraConfig(em: EntraEmulator, overrides: Partial<EntraConfig> = {}): EntraConfig {
  // Through the real config module, so its defaults are the ones under test. Graph's
  // 20 writes/s is time-scaled like the emulator (0.01 → 2,000/s).
  return { ...loadConfig(entraEnv(em.info)).entra!, concurrency: 4, writesPerSecond: 2000, timeoutMs: 5000, ...overrides };
}

export interface Setup {
  h: Harness;
  connector: EntraConnector;
  /** The connector's Redis (write budget, delta link, photo hashes) and its prefix: the harness's. */
  redis: Redis;
  prefix: string;
  close(): Promise<void>;
}

export interface SetupOptions {
  worker?: Partial<TargetWorkerOptions>;
  client?: SyncClientOptions;
  /** For the connector and the worker. */
  logger?: Logger;
  connector?: Partial<CreateEntraConnectorOptions>;
}

/** The real connector in a harness; `close()` closes both and deletes the connector's keys. */
export async function setup(em: EntraEmulator, overrides: Partial<EntraConfig> = {}, options: SetupOptions = {}): Promise<Setup> {
  let connector!: EntraConnector;
  const h = await startHarness({
    connector: async ({ redis, prefix }) =>
      (connector = await createEntraConnector(entraConfig(em, overrides), {
        redis,
        prefix,
        consistency: { attempts: 10, delayMs: 50 },
        ...(options.logger && { logger: options.logger }),
        ...options.connector,
      })),
    worker: { ...options.worker, ...(options.logger && { logger: options.logger }) },
    ...(options.client && { client: options.client }),
  });
  return {
    h,
    connector,
    redis: h.redis,
    prefix: h.prefix,
    async close() {
      await h.close();
      await connector.close();
    },
  };
}

export interface GraphResult {
  status: number;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  bytes: Buffer;
  headers: Headers;
}

/** Checks the tenant through Graph itself (plain fetch, a token of the default app), as an operator would. */
export class Graph {
  readonly #credential: ClientSecretCredential;

  constructor(readonly em: EntraEmulator) {
    this.#credential = new ClientSecretCredential(em.info.tenantId, em.info.clientId, em.info.clientSecret, { authorityHost: em.info.authorityHost, disableInstanceDiscovery: true });
  }

  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<GraphResult> {
    const token = (await this.#credential.getToken(GRAPH_SCOPE)).token;
    const binary = Buffer.isBuffer(body);
    const res = await fetch(`${this.em.info.graphBaseUrl}v1.0${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': binary ? 'image/jpeg' : 'application/json' }), ...headers },
      body: body === undefined ? undefined : binary ? (body as Buffer) : JSON.stringify(body),
    });
    const bytes = Buffer.from(await res.arrayBuffer());
    const type = res.headers.get('content-type') ?? '';
    return { status: res.status, json: type.includes('json') && bytes.length ? JSON.parse(bytes.toString('utf8')) : undefined, bytes, headers: res.headers };
  }

  /** The user by id or UPN with the given properties; null on 404. */
  async user(key: string, select = 'id,userPrincipalName,displayName,mailNickname,givenName,surname,mail,accountEnabled,department,employeeId,jobTitle,onPremisesExtensionAttributes,lastPasswordChangeDateTime') {
    const r = await this.call('GET', `/users/${encodeURIComponent(key)}?$select=${select}`);
    if (r.status === 404) return null;
    if (r.status !== 200) throw new Error(`GET user ${key} → ${r.status} ${r.bytes.toString()}`);
    return r.json as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  }

  async deleted(id: string): Promise<boolean> {
    return (await this.call('GET', `/directory/deletedItems/${id}?$select=id`)).status === 200;
  }

  /** Display names of the user's direct groups, sorted. */
  async groupsOf(id: string): Promise<string[]> {
    const r = await this.call('GET', `/users/${id}/memberOf?$select=displayName`);
    return (r.json.value as { displayName: string }[]).map((g) => g.displayName).sort();
  }
}

/** Emulator counters gained since `before` (only those that moved). */
export function statsDelta(em: EntraEmulator, before: EntraStatsSnapshot): Partial<Record<keyof EntraStatsSnapshot, number>> {
  const now = em.stats();
  const out: Partial<Record<keyof EntraStatsSnapshot, number>> = {};
  for (const k of ['graphRequests', 'batchRequests', 'batchItems', 'writes', 'throttled', 'tokenRequests'] as const) {
    if (now[k] !== before[k]) out[k] = now[k] - before[k];
  }
  return out;
}

/** Pushes one snapshot through the queue and waits for its job. */
