// Plumbing for the Crowd worker suites: the emulator, the real connector in a real
// TargetWorker (test/helpers/harness.ts), and a plain fetch client that checks Crowd's
// state through its own REST API.
import { loadConfig, type CrowdConfig } from '../../../shared/config.js';
import type { Logger } from '../../../shared/logger.js';
import { crowdEnv, type CrowdEmulator, type CrowdEmulatorOptions, startCrowdEmulator } from '../../../emulators/crowd/index.js';
import { createCrowdConnector, type CrowdConnector } from '../../../workers/crowd/index.js';
import { startHarness, type Harness } from '../../helpers/harness.js';
import type { TargetWorkerOptions } from '../../../workers/runtime/target-worker.js';
import type { SyncClientOptions } from '../../../producers/client-options.js';

/** Distinctive, so "it appears nowhere" checks cannot pass by accident. */
export const APP_PASSWORD = 'crowd-app-Pw-7f3K9q!';

export function startEmulator(options: CrowdEmulatorOptions = {}): Promise<CrowdEmulator> {
  return startCrowdEmulator({ applicationPassword: APP_PASSWORD, ...options });
}

export function crowdConfig(em: CrowdEmulator, overrides: Partial<CrowdConfig> = {}): CrowdConfig {
  // Through the real config module, so its defaults are the ones under test.
  return { ...loadConfig(crowdEnv(em.info)).crowd!, concurrency: 4, timeoutMs: 2000, ...overrides };
}

export interface Setup {
  h: Harness;
  connector: CrowdConnector;
  close(): Promise<void>;
}

export interface SetupOptions {
  worker?: Partial<TargetWorkerOptions>;
  client?: SyncClientOptions;
  /** For the connector and the worker. */
  logger?: Logger;
}

/** The real connector in a harness, on its connection and prefix; `close()` closes both. */
export async function setup(em: CrowdEmulator, overrides: Partial<CrowdConfig> = {}, options: SetupOptions = {}): Promise<Setup> {
  let connector!: CrowdConnector;
  const h = await startHarness({
    connector: async ({ redis, prefix }) =>
      (connector = await createCrowdConnector(crowdConfig(em, overrides), { redis, prefix, ...(options.logger && { logger: options.logger }) })),
    worker: { ...options.worker, ...(options.logger && { logger: options.logger }) },
    ...(options.client && { client: options.client }),
  });
  return {
    h,
    connector,
    async close() {
      await h.close();
      await connector.close();
    },
  };
}

/** Checks Crowd's state through its REST API, as an operator would. */
export class CrowdRest {
  constructor(readonly em: CrowdEmulator) {}

  async call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const res = await fetch(`${this.em.info.baseUrl}rest/usermanagement/1/${path}`, {
      method,
      headers: {
        Authorization: `Basic ${Buffer.from(`${this.em.info.applicationName}:${APP_PASSWORD}`).toString('base64')}`,
        Accept: 'application/json',
        ...(body !== undefined && { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  }

  async user(name: string) {
    const r = await this.call('GET', `user?username=${encodeURIComponent(name)}&expand=attributes`);
    if (r.status === 404) return null;
    if (r.status !== 200) throw new Error(`GET user ${name} → ${r.status}`);
    const attrs = Object.fromEntries((r.json.attributes.attributes as { name: string; values: string[] }[]).map((a) => [a.name, a.values]));
    return { ...r.json, attributes: attrs } as Record<string, any> & { key: string; name: string; attributes: Record<string, string[]> }; // eslint-disable-line @typescript-eslint/no-explicit-any
  }

  async directGroups(name: string): Promise<string[]> {
    const r = await this.call('GET', `user/group/direct?username=${encodeURIComponent(name)}`);
    return (r.json.groups as { name: string }[]).map((g) => g.name);
  }

  async authenticate(name: string, password: string): Promise<number> {
    return (await this.call('POST', `authentication?username=${encodeURIComponent(name)}`, { value: password })).status;
  }

  async createGroup(name: string): Promise<void> {
    const r = await this.call('POST', 'group', { name, type: 'GROUP', active: true });
    if (r.status !== 201) throw new Error(`POST group ${name} → ${r.status}`);
  }
}

/** Requests per `METHOD route` since `before` (a stats().byRoute snapshot). */
export function routeDelta(em: CrowdEmulator, before: Record<string, number>): Record<string, number> {
  const now = em.stats().byRoute;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(now)) if (v - (before[k] ?? 0)) out[k] = v - (before[k] ?? 0);
  return out;
}
