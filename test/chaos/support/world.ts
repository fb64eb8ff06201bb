// A whole deployment for the chaos suite: a private AOF redis-server, both emulators in this
// process, the client library, and the settings of `idsync worker` processes pointed at them.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { crowdEnv, type CrowdEmulator } from '../../../emulators/crowd/index.js';
import { DEFAULT_DOMAIN, entraEnv, type EntraEmulator } from '../../../emulators/entra/index.js';
import { createSyncClient, type SyncClient } from '../../../producers/client.js';
import { AuditLog } from '../../../shared/audit.js';
import { QUEUES, type Target, type UserSnapshotInput } from '../../../shared/jobs.js';
import { TEST_KEY } from '../../helpers/harness.js';
import { uniquePrefix } from '../../helpers/redis.js';
import { waitFor } from '../../helpers/wait.js';
import { APP_PASSWORD, CrowdRest, startEmulator as startCrowd } from '../../workers/crowd/helpers.js';
import { Graph, startEmulator as startEntra } from '../../workers/entra/helpers.js';
import { startPrivateRedis, type PrivateRedis } from './private-redis.js';

export const TARGET_NAMES: readonly Target[] = ['crowd', 'entra'];

export interface ChaosWorld {
  redis: PrivateRedis;
  crowd: CrowdEmulator;
  entra: EntraEmulator;
  prefix: string;
  /** A connection to the private Redis (workers' settings: it waits out outages). */
  conn: Redis;
  client: SyncClient;
  audit: AuditLog;
  queues: Record<'crowd' | 'entra', Queue>;
  /** `idsync worker` settings for both targets, with a short lock and stall check. */
  workerEnv: Record<string, string>;
  /** Users on each emulator before the run (a seeded tenant is not empty). */
  baseline: { crowd: number; entra: number };
  close(): Promise<void>;
}

export async function startWorld(options: { crowdPassword?: string } = {}): Promise<ChaosWorld> {
  const redis = await startPrivateRedis();
  const crowd = await startCrowd(options.crowdPassword ? { applicationPassword: options.crowdPassword } : {});
  // Graph time runs 100x faster, so its write quota is 2,000/s (ENTRA_WRITES_PER_SECOND below).
  const entra = await startEntra();
  const prefix = uniquePrefix('chaos');
  const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
  conn.on('error', () => undefined);
  const client = createSyncClient({ redisUrl: redis.url, prefix, targets: [...TARGET_NAMES], secretKey: TEST_KEY, attempts: 8, backoffMs: 50 });
  const queues = { crowd: new Queue(QUEUES.crowd, { connection: conn, prefix }), entra: new Queue(QUEUES.entra, { connection: conn, prefix }) };
  for (const q of Object.values(queues)) q.on('error', () => undefined);
  const workerEnv: Record<string, string> = {
    REDIS_URL: redis.url,
    IDSYNC_PREFIX: prefix,
    IDSYNC_SECRET_KEY: TEST_KEY,
    IDSYNC_BACKOFF_MS: '50',
    IDSYNC_LOCK_DURATION_MS: '2000',
    IDSYNC_STALLED_INTERVAL_MS: '500',
    ...crowdEnv(crowd.info),
    ...entraEnv(entra.info),
    ENTRA_WRITES_PER_SECOND: '2000',
  };
  return {
    redis, crowd, entra, prefix, conn, client, queues, workerEnv,
    audit: new AuditLog(conn, prefix),
    baseline: { crowd: crowd.stats().users, entra: entra.stats().users },
    async close() {
      await client.close().catch(() => undefined);
      await Promise.all(Object.values(queues).map((q) => q.close().catch(() => undefined)));
      conn.disconnect();
      await Promise.all([crowd.close(), entra.close()]);
      await redis.stop();
    },
  };
}

/** `n` distinct users, `version` 1 unless given; every field explicit, so "exact" is unambiguous. */
export function chaosUsers(n: number, from = 0, version = 1, lastName = (i: number) => `Last${i}`): UserSnapshotInput[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return { id: `u${i}`, username: `chaos${i}`, email: `chaos${i}@example.com`, firstName: `First${i}`, lastName: lastName(i), displayName: `First${i} ${lastName(i)}`, active: true, version };
  });
}

/**
 * Resolves once neither target queue holds a job that may still run (waiting, active, delayed):
 * BullMQ has no cross-process "all done" event, so the counts are polled.
 */
export async function drained(world: ChaosWorld, timeoutMs: number): Promise<void> {
  await waitFor(async () => {
    for (const q of Object.values(world.queues)) {
      const c = await q.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children');
      if (Object.values(c).some((n) => n > 0)) return false;
    }
    return true;
  }, timeoutMs);
}

export async function failedJobs(world: ChaosWorld): Promise<Record<string, number>> {
  return { crowd: await world.queues.crowd.getFailedCount(), entra: await world.queues.entra.getFailedCount() };
}

/** Succeeded `create` audit entries per target whose subject appears more than once. */
export async function duplicateCreates(world: ChaosWorld): Promise<{ creates: Record<string, number>; duplicates: string[] }> {
  const creates: Record<string, number> = {};
  const duplicates: string[] = [];
  for (const target of TARGET_NAMES) {
    const seen = new Set<string>();
    for await (const e of world.audit.listEntries({ target, operation: 'create', status: 'succeeded', limit: Number.MAX_SAFE_INTEGER })) {
      if (seen.has(e.subject)) duplicates.push(`${target}:${e.subject}`);
      seen.add(e.subject);
    }
    creates[target] = seen.size;
  }
  return { creates, duplicates };
}

/**
 * Each user as both remotes hold it, listed through their own APIs, compared with what was
 * pushed last; resolves with the differences (empty when every user is exact).
 */
export async function mismatches(world: ChaosWorld, users: readonly UserSnapshotInput[]): Promise<string[]> {
  const [crowd, entra] = await Promise.all([listCrowd(world), listEntra(world)]);
  const out: string[] = [];
  for (const u of users) {
    const c = crowd.get(u.username);
    const wantC = { email: u.email, 'first-name': u.firstName, 'last-name': u.lastName, 'display-name': u.displayName, active: true };
    const gotC = c && Object.fromEntries(Object.keys(wantC).map((k) => [k, c[k]]));
    if (JSON.stringify(gotC) !== JSON.stringify(wantC)) out.push(`crowd ${u.username}: ${JSON.stringify(gotC)}`);
    const g = entra.get(`${u.username}@${DEFAULT_DOMAIN}`.toLowerCase());
    const wantG = { mail: u.email, givenName: u.firstName, surname: u.lastName, displayName: u.displayName, accountEnabled: true };
    const gotG = g && Object.fromEntries(Object.keys(wantG).map((k) => [k, g[k]]));
    if (JSON.stringify(gotG) !== JSON.stringify(wantG)) out.push(`entra ${u.username}: ${JSON.stringify(gotG)}`);
  }
  return out;
}

type Row = Record<string, unknown>;

async function listCrowd(world: ChaosWorld): Promise<Map<string, Row>> {
  const rest = new CrowdRest(world.crowd);
  const out = new Map<string, Row>();
  for (let start = 0; ; start += 1000) {
    const r = await rest.call('GET', `search?entity-type=user&expand=user&max-results=1000&start-index=${start}`);
    if (r.status !== 200) throw new Error(`Crowd search → ${r.status}`);
    const page = r.json.users as Row[];
    for (const u of page) out.set(String(u.name), u);
    if (page.length < 1000) return out;
  }
}

async function listEntra(world: ChaosWorld): Promise<Map<string, Row>> {
  const graph = new Graph(world.entra);
  const out = new Map<string, Row>();
  let path: string | undefined = '/users?$select=userPrincipalName,mail,givenName,surname,displayName,accountEnabled&$top=999';
  while (path) {
    const r = await graph.call('GET', path);
    if (r.status !== 200) throw new Error(`Graph list users → ${r.status}`);
    for (const u of r.json.value as Row[]) out.set(String(u.userPrincipalName).toLowerCase(), u);
    const next = r.json['@odata.nextLink'] as string | undefined;
    path = next?.slice(next.indexOf('/v1.0') + '/v1.0'.length);
  }
  return out;
}

export { APP_PASSWORD };
