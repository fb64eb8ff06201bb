// One workload pushed to both emulators by in-process target workers, with or without a fault
// storm, and the requests it took: the fault storm test and the retry-cost benchmark share it.
import { Job, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import type { CrowdEmulator } from '../../../emulators/crowd/index.js';
import type { EntraEmulator } from '../../../emulators/entra/index.js';
import { createSyncClient, type SyncClient } from '../../../producers/client.js';
import type { Enqueued } from '../../../producers/client-options.js';
import { AuditLog } from '../../../shared/audit.js';
import { Keyring, parseKey } from '../../../shared/crypto.js';
import type { Target, UserSnapshotInput } from '../../../shared/jobs.js';
import { LinkStore } from '../../../shared/links.js';
import { silentLogger } from '../../../shared/logger.js';
import { deletePrefix } from '../../../shared/redis.js';
import { createCrowdConnector } from '../../../workers/crowd/index.js';
import { createEntraConnector } from '../../../workers/entra/index.js';
import type { TargetConnector } from '../../../workers/runtime/connector.js';
import { RuntimeMetrics } from '../../../workers/runtime/metrics.js';
import { TargetWorker } from '../../../workers/runtime/target-worker.js';
import { TEST_KEY } from '../../helpers/harness.js';
import { uniquePrefix } from '../../helpers/redis.js';
import { CrowdRest, crowdConfig } from '../../workers/crowd/helpers.js';
import { DOMAIN, Graph, entraConfig } from '../../workers/entra/helpers.js';

/** Per request: 20 % 5xx (500, 502, 503, 504 alike), 10 % 429 with Retry-After, 5 % timeouts, 1 % resets, 1 % cut-off replies. */
export const STORM = { serverError: 0.2, throttle: 0.1, timeout: 0.05, reset: 0.01, malformed: 0.01 } as const;
/** Client timeout in the storm runs; a stalled reply is held back longer. */
const TIMEOUT_MS = 1000;

export function stormFaults(seed: number) {
  const crowd = {
    serverErrorRate: STORM.serverError, serverErrorStatuses: [500, 502, 503, 504], throttleRate: STORM.throttle, throttleRetryAfterSeconds: 1, stallRate: STORM.timeout,
    stallMs: TIMEOUT_MS * 2, resetRate: STORM.reset, malformedRate: STORM.malformed, malformedKind: 'truncated' as const, seed,
  };
  const entra = {
    errorRate: STORM.serverError, errorStatuses: [500, 502, 503, 504], throttleRate: STORM.throttle, faultRetryAfterSeconds: 1,
    stallRate: STORM.timeout, stallMs: TIMEOUT_MS * 2, resetRate: STORM.reset, malformedRate: STORM.malformed, malformedKind: 'truncated' as const,
  };
  return { crowd, entra };
}

export interface WorkloadResult {
  /** Requests each remote received (Entra: Graph operations, a `$batch` item counting one, plus token requests). */
  requests: Record<Target, number>;
  failed: Record<Target, number>;
  /** The most attempts any job used (a transient failure uses one; a 429 or a quarantine none). */
  maxAttempts: Record<Target, number>;
  /** Why each failed job failed, as `target name user: reason`. */
  failedReasons: string[];
  /** Users whose remote state differs from the last snapshot, as `target user: got`. */
  mismatches: string[];
  /** Faults the emulators injected. */
  injected: Record<Target, number>;
}

/** `n` users; every 4th later renamed (last name), every 10th later deleted (deactivated). */
export function stormUsers(n: number): { creates: UserSnapshotInput[]; updates: UserSnapshotInput[]; deletes: UserSnapshotInput[] } {
  const creates = Array.from({ length: n }, (_, i) => ({
    id: `s${i}`, username: `storm${i}`, email: `storm${i}@example.com`, firstName: `First${i}`, lastName: `Last${i}`, displayName: `First${i} Last${i}`, active: true, version: 1,
  }));
  return {
    creates,
    updates: creates.filter((_, i) => i % 4 === 1).map((u) => ({ ...u, lastName: `${u.lastName}b`, displayName: `${u.displayName}b`, version: 2 })),
    deletes: creates.filter((_, i) => i % 10 === 2),
  };
}

export interface Targets {
  prefix: string;
  redis: Redis;
  workers: TargetWorker[];
  audit: AuditLog;
  client: SyncClient;
  /** Waits on every job; resolves with the failed ones per target and their reasons. */
  settle(enqueued: Enqueued[]): Promise<Record<Target, number> & { reasons: string[]; maxAttempts: Record<Target, number> }>;
  close(): Promise<void>;
}

/** In-process workers for both targets (real connectors) under a fresh prefix, and a client. */
export async function startTargets(options: { redisUrl: string; crowd: CrowdEmulator; entra: EntraEmulator; concurrency?: number; timeoutMs?: number }): Promise<Targets> {
  const prefix = uniquePrefix('storm');
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  const concurrency = options.concurrency ?? 8;
  const timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
  const connectors: TargetConnector[] = [
    await createCrowdConnector(crowdConfig(options.crowd, { timeoutMs, concurrency }), { redis, prefix }),
    await createEntraConnector(entraConfig(options.entra, { timeoutMs, concurrency, upnDomain: DOMAIN }), { redis, prefix, consistency: { attempts: 10, delayMs: 50 } }),
  ];
  const audit = new AuditLog(redis, prefix);
  const links = new LinkStore(redis, prefix);
  const workers = connectors.map((connector) => new TargetWorker({
    connector, connection: redis, prefix, links, audit, keyring: new Keyring(parseKey(TEST_KEY)), logger: silentLogger,
    metrics: new RuntimeMetrics(), concurrency, backoffMs: 50, maxBackoffMs: 1000, quarantineProbeMs: 100,
  }));
  // Every job is looked up at once (Job.fromId), each adding a listener to its queue for the call.
  for (const w of workers) w.queue.setMaxListeners(0);
  const events = workers.map((w) => new QueueEvents(w.target, { connection: { url: options.redisUrl }, prefix, lastEventId: '0-0' }));
  await Promise.all([...workers.map((w) => w.start()), ...events.map((e) => e.waitUntilReady())]);
  const client = createSyncClient({ redisUrl: options.redisUrl, prefix, targets: ['crowd', 'entra'], secretKey: TEST_KEY, attempts: 8, backoffMs: 50, coalesceWindowMs: 0 });
  return {
    prefix, redis, workers, audit, client,
    async settle(enqueued) {
      const failed: Record<Target, number> = { crowd: 0, entra: 0 };
      const reasons: string[] = [];
      const attempts: Record<Target, number> = { crowd: 0, entra: 0 };
      await Promise.all(enqueued.map(async ({ jobId, target }) => {
        const i = target === 'crowd' ? 0 : 1;
        const job = await Job.fromId(workers[i]!.queue, jobId);
        if (!job) return;
        await job.waitUntilFinished(events[i]!, 300_000).catch((err: Error) => {
          failed[target as Target] += 1;
          reasons.push(`${target} ${job.name} ${String(job.data?.user?.id)}: ${err.message}`);
        });
        const done = await Job.fromId(workers[i]!.queue, jobId);
        attempts[target as Target] = Math.max(attempts[target as Target], done?.attemptsMade ?? 0);
      }));
      return { ...failed, reasons, maxAttempts: attempts };
    },
    async close() {
      await client.close();
      await Promise.all(workers.map((w) => w.close(1000)));
      await Promise.all(events.map((e) => e.close()));
      await Promise.all(connectors.map((c) => c.close?.()));
      await deletePrefix(redis, prefix);
      await redis.quit();
    },
  };
}

/**
 * Pushes the workload through fresh workers under a fresh prefix (the emulators must start
 * empty: the caller resets them), waits on every job, and counts what it cost.
 */
export async function runWorkload(options: { redisUrl: string; crowd: CrowdEmulator; entra: EntraEmulator; users: number; storm?: number; concurrency?: number }): Promise<WorkloadResult> {
  const { crowd: crowdEm, entra: entraEm } = options;
  const t = await startTargets(options);
  try {
    if (options.storm !== undefined) {
      const faults = stormFaults(options.storm);
      crowdEm.setFaults(faults.crowd);
      entraEm.setFaults(faults.entra);
    }
    const { creates, updates, deletes } = stormUsers(options.users);
    const first = await t.settle(await t.client.userChangedMany(creates));
    const later = await t.client.userChangedMany(updates);
    for (const u of deletes) later.push(...(await t.client.userDeleted({ id: u.id, username: u.username, version: 2 })));
    const second = await t.settle(later);
    const cs = crowdEm.stats();
    const es = entraEm.stats();
    crowdEm.setFaults({ serverErrorRate: 0, throttleRate: 0, stallRate: 0, resetRate: 0, malformedRate: 0 });
    entraEm.setFaults({ errorRate: 0, throttleRate: 0, stallRate: 0, resetRate: 0, malformedRate: 0 });
    return {
      requests: { crowd: cs.requests, entra: es.graphRequests - es.batchRequests + es.batchItems + es.tokenRequests },
      failed: { crowd: first.crowd + second.crowd, entra: first.entra + second.entra },
      failedReasons: [...first.reasons, ...second.reasons],
      maxAttempts: { crowd: Math.max(first.maxAttempts.crowd, second.maxAttempts.crowd), entra: Math.max(first.maxAttempts.entra, second.maxAttempts.entra) },
      mismatches: await mismatches(crowdEm, entraEm, creates, updates, deletes),
      injected: { crowd: cs.throttled + cs.resets + cs.stalls + cs.malformed + cs.serverErrors, entra: es.faultsInjected },
    };
  } finally {
    await t.close();
  }
}

/** Every user compared with its last snapshot, through each remote's own API. */
export async function mismatches(crowd: CrowdEmulator, entra: EntraEmulator, creates: UserSnapshotInput[], updates: UserSnapshotInput[], deletes: UserSnapshotInput[]): Promise<string[]> {
  const rest = new CrowdRest(crowd);
  const graph = new Graph(entra);
  const last = new Map(creates.map((u) => [u.id, { ...u }]));
  for (const u of updates) last.set(u.id, { ...u });
  for (const u of deletes) last.set(u.id, { ...last.get(u.id)!, active: false });
  const out: string[] = [];
  const check = async (u: UserSnapshotInput) => {
    const c = await rest.user(u.username);
    const wantC = { 'first-name': u.firstName, 'last-name': u.lastName, 'display-name': u.displayName, email: u.email, active: u.active };
    const gotC = c && Object.fromEntries(Object.keys(wantC).map((k) => [k, c[k]]));
    if (JSON.stringify(gotC) !== JSON.stringify(wantC)) out.push(`crowd ${u.username}: ${JSON.stringify(gotC)}`);
    const g = await graph.user(`${u.username}@${DOMAIN}`);
    const wantG = { givenName: u.firstName, surname: u.lastName, displayName: u.displayName, mail: u.email, accountEnabled: u.active };
    const gotG = g && Object.fromEntries(Object.keys(wantG).map((k) => [k, g[k]]));
    if (JSON.stringify(gotG) !== JSON.stringify(wantG)) out.push(`entra ${u.username}: ${JSON.stringify(gotG)}`);
  };
  const users = [...last.values()];
  for (let i = 0; i < users.length; i += 25) await Promise.all(users.slice(i, i + 25).map(check));
  if (crowd.stats().users !== creates.length) out.push(`crowd holds ${crowd.stats().users} users, not ${creates.length}`);
  if (entra.stats().users !== creates.length) out.push(`entra holds ${entra.stats().users} users, not ${creates.length}`);
  return out;
}
