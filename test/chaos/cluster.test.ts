// idsync on a three-master Redis Cluster (REDIS_URL redis+cluster://…): pushes through the client
// library to two `idsync worker crowd entra` processes, a refresh and a pull back into the
// application through onPulledChange, an operator replay of a failed job, and doctor reading
// every master. Every key idsync writes must carry the prefix's hash tag, so one deployment
// lives in one slot.
import { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { crowdEnv, type CrowdEmulator } from '../../emulators/crowd/index.js';
import { DEFAULT_DOMAIN, entraEnv, type EntraEmulator } from '../../emulators/entra/index.js';
import { listFailed } from '../../operators/failed-jobs.js';
import { withQueues } from '../../operators/operator-queues.js';
import { runDoctor } from '../../operators/doctor.js';
import { replayFailed } from '../../operators/replay.js';
import { createSyncClient, type SyncClient } from '../../producers/client.js';
import type { PulledChange } from '../../producers/pulled-changes.js';
import { loadConfig } from '../../shared/config.js';
import { AuditLog } from '../../shared/audit.js';
import { JOB_NAMES, QUEUES, SCHEMA_VERSION, type Target } from '../../shared/jobs.js';
import { LinkStore } from '../../shared/links.js';
import { silentLogger } from '../../shared/logger.js';
import { createRedis, deletePrefix, scanPrefix, whenReady } from '../../shared/redis.js';
import { FakeConnector } from '../helpers/fake-connector.js';
import { TEST_KEY } from '../helpers/harness.js';
import { createConnectors } from '../../workers/connectors.js';
import type { SyncConnector } from '../../workers/runtime/connector.js';
import { emptyCounts, type PlanMeta } from '../../workers/sync/plan-store.js';
import { SyncWorker } from '../../workers/sync/worker.js';
import { MemoryDirectory } from '../helpers/memory-directory.js';
import { uniquePrefix } from '../helpers/redis.js';
import { CrowdRest, startEmulator as startCrowd } from '../workers/crowd/helpers.js';
import { Graph, startEmulator as startEntra } from '../workers/entra/helpers.js';
import { hasRedisCluster, startPrivateCluster, type PrivateCluster } from './support/private-cluster.js';
import { chaosSize, chaosTimeoutMs } from './support/scale.js';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process.js';

const USERS = chaosSize(30, 1000);
const users = Array.from({ length: USERS }, (_, i) => ({
  id: `u${i}`, username: `cluster${i}`, email: `cluster${i}@example.com`, firstName: `First${i}`, lastName: `Last${i}`, displayName: `First${i} Last${i}`, active: true, version: 1,
}));

/** Completed and failed job ids of one queue, heard from its event stream. */
function tally(events: QueueEvents) {
  const completed = new Set<string>();
  const failed = new Map<string, string>();
  const waiters: (() => void)[] = [];
  const notify = () => waiters.splice(0).forEach((w) => w());
  events.on('completed', ({ jobId }) => { completed.add(jobId); notify(); });
  events.on('failed', ({ jobId, failedReason }) => { failed.set(jobId, failedReason); notify(); });
  return {
    completed,
    failed,
    /** Resolves once `check` holds, re-checked on every event. */
    async until(check: () => boolean): Promise<void> {
      while (!check()) await new Promise<void>((resolve) => waiters.push(resolve));
    },
  };
}

const title = 'chaos: idsync on a Redis Cluster, workers in two processes';
(hasRedisCluster ? describe : describe.skip)(hasRedisCluster ? title : `${title} (skipped: redis-server and redis-cli are not installed)`, () => {
  let cluster: PrivateCluster;
  let crowd: CrowdEmulator;
  let entra: EntraEmulator;
  let conn: Redis;
  let client: SyncClient;
  let events: { crowd: QueueEvents; entra: QueueEvents };
  let seen: { crowd: ReturnType<typeof tally>; entra: ReturnType<typeof tally> };
  const workers: WorkerProcess[] = [];
  const prefix = uniquePrefix('cluster');

  beforeAll(async () => {
    [cluster, crowd, entra] = await Promise.all([startPrivateCluster(), startCrowd(), startEntra()]);
    conn = createRedis(cluster.url, 'worker');
    conn.on('error', () => undefined);
    await whenReady(conn);
    client = createSyncClient({ redisUrl: cluster.url, prefix, targets: ['crowd', 'entra'], secretKey: TEST_KEY, attempts: 3, backoffMs: 50 });
    events = { crowd: new QueueEvents(QUEUES.crowd, { connection: conn, prefix }), entra: new QueueEvents(QUEUES.entra, { connection: conn, prefix }) };
    await Promise.all(Object.values(events).map((e) => e.waitUntilReady()));
    seen = { crowd: tally(events.crowd), entra: tally(events.entra) };
    const env = {
      REDIS_URL: cluster.url,
      IDSYNC_PREFIX: prefix,
      IDSYNC_SECRET_KEY: TEST_KEY,
      IDSYNC_BACKOFF_MS: '50',
      IDSYNC_ATTEMPTS: '3',
      IDSYNC_LOG_LEVEL: 'info', // startWorkerProcess waits for the "idsync workers running" line
      ...crowdEnv(crowd.info),
      ...entraEnv(entra.info),
      ENTRA_WRITES_PER_SECOND: '2000',
    };
    const started = await Promise.allSettled([startWorkerProcess(['crowd', 'entra'], env), startWorkerProcess(['crowd', 'entra'], env)]);
    for (const s of started) if (s.status === 'fulfilled') workers.push(s.value);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
  }, 60_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill9()));
    await client?.close();
    await Promise.all(Object.values(events ?? {}).map((e) => e.close()));
    conn?.disconnect();
    await Promise.all([crowd?.close(), entra?.close()]);
    await cluster?.stop();
  });

  it('pushes every user, exact, to Crowd and Entra', async () => {
    const enqueued = await client.userChangedMany(users);
    expect(enqueued).toHaveLength(2 * USERS);
    const ids = { crowd: enqueued.filter((e) => e.target === 'crowd').map((e) => e.jobId), entra: enqueued.filter((e) => e.target === 'entra').map((e) => e.jobId) };
    for (const t of ['crowd', 'entra'] as const) await seen[t].until(() => ids[t].every((id) => seen[t].completed.has(id) || seen[t].failed.has(id)));
    expect([...seen.crowd.failed.values(), ...seen.entra.failed.values()]).toEqual([]);

    const rest = new CrowdRest(crowd);
    const graph = new Graph(entra);
    const wrong: string[] = [];
    for (const u of users) {
      const c = await rest.user(u.username);
      const wantC = { name: u.username, email: u.email, 'first-name': u.firstName, 'last-name': u.lastName, 'display-name': u.displayName, active: true };
      const gotC = c && Object.fromEntries(Object.keys(wantC).map((k) => [k, c[k]]));
      if (JSON.stringify(gotC) !== JSON.stringify(wantC)) wrong.push(`crowd ${u.username}: ${JSON.stringify(gotC)}`);
      const g = await graph.user(`${u.username}@${DEFAULT_DOMAIN}`);
      const wantG = { mail: u.email, givenName: u.firstName, surname: u.lastName, displayName: u.displayName, accountEnabled: true };
      const gotG = g && Object.fromEntries(Object.keys(wantG).map((k) => [k, g[k]]));
      if (JSON.stringify(gotG) !== JSON.stringify(wantG)) wrong.push(`entra ${u.username}: ${JSON.stringify(gotG)}`);
    }
    expect(wrong).toEqual([]);
  }, chaosTimeoutMs(30_000, 300_000));

  it('refreshes a user from each target and pulls one back into the application', async () => {
    await expect(client.refresh({ id: 'u1' }, { target: 'crowd' })).resolves.toMatchObject({ target: 'crowd', username: 'cluster1', email: 'cluster1@example.com', firstName: 'First1', lastName: 'Last1' });
    await expect(client.refresh({ id: 'u1' }, { target: 'entra' })).resolves.toMatchObject({ target: 'entra', username: `cluster1@${DEFAULT_DOMAIN}`, email: 'cluster1@example.com', firstName: 'First1', lastName: 'Last1' });

    const changes: PulledChange[] = [];
    let arrived!: () => void;
    const both = new Promise<void>((resolve) => (arrived = resolve));
    const sub = await client.onPulledChange(async (change) => {
      changes.push(change);
      if (changes.length === 2) arrived();
      return { id: change.appUserId! };
    });
    try {
      await client.pull({ id: 'u2' });
      await both;
    } finally {
      await sub.close();
    }
    expect(changes.map((c) => [c.source, c.action, c.appUserId, c.remote?.username, c.remote?.email]).sort()).toEqual([
      ['crowd', 'pull', 'u2', 'cluster2', 'cluster2@example.com'],
      ['entra', 'pull', 'u2', `cluster2@${DEFAULT_DOMAIN}`, 'cluster2@example.com'],
    ]);
  }, chaosTimeoutMs(30_000, 60_000));

  it('an operator replays a failed push once its cause is fixed', async () => {
    const rest = new CrowdRest(crowd);
    const rita = { id: 'r1', username: 'rita', email: 'rita@example.com', firstName: 'Rita', lastName: 'Replay', groups: ['cluster-missing'], version: 1 };
    // Entra has the group, Crowd does not: only the Crowd push fails.
    entra.seed({ groups: [{ displayName: 'cluster-missing', members: [] }] });
    const enqueued = await client.userChanged(rita);
    const job = enqueued.find((e) => e.target === 'crowd');
    const entraJob = enqueued.find((e) => e.target === 'entra')!.jobId;
    await seen.crowd.until(() => seen.crowd.failed.has(job!.jobId));
    await seen.entra.until(() => seen.entra.completed.has(entraJob) || seen.entra.failed.has(entraJob));
    expect(seen.entra.completed.has(entraJob)).toBe(true);
    expect(seen.crowd.failed.get(job!.jobId)).toMatch(/Crowd has no group "cluster-missing"/);
    const operator = { redis: conn, prefix };
    expect((await withQueues(operator, (q) => listFailed(q, { target: 'crowd' }))).map((f) => f.jobId)).toEqual([job!.jobId]);

    await rest.createGroup('cluster-missing');
    const directory = new MemoryDirectory([{ ...rita, firstName: 'Rita-Ann', active: true, version: 2 }]);
    const summary = await replayFailed({ ...operator, jobIds: [job!.jobId], directory });
    expect(summary).toMatchObject({ replayed: 1, refused: 0, results: [{ jobId: job!.jobId, outcome: 'replayed' }] });
    await seen.crowd.until(() => seen.crowd.completed.has(job!.jobId));
    expect(await rest.directGroups('rita')).toEqual(['cluster-missing']);
    expect((await rest.user('rita'))?.['first-name']).toBe('Rita-Ann');
    expect(await withQueues(operator, (q) => listFailed(q))).toEqual([]);
  }, chaosTimeoutMs(30_000, 60_000));

  it('a full sync plans on the cluster (plan store, planner pipelines, target lock) and applies through the worker processes', async () => {
    const config = loadConfig({ REDIS_URL: cluster.url, IDSYNC_PREFIX: prefix, IDSYNC_SECRET_KEY: TEST_KEY, IDSYNC_LOG_LEVEL: 'silent', ...crowdEnv(crowd.info) });
    // The application: every pushed user as pushed, rita as replayed, and one user Crowd lacks.
    const directory = new MemoryDirectory([
      ...users.map(({ version: _v, ...u }) => ({ ...u, active: true })),
      { id: 'r1', username: 'rita', email: 'rita@example.com', firstName: 'Rita-Ann', lastName: 'Replay', groups: ['cluster-missing'], active: true },
      { id: 'n1', username: 'newcomer', email: 'newcomer@example.com', firstName: 'New', lastName: 'Comer', displayName: 'New Comer', active: true },
    ]);
    const connectors = (await createConnectors(config, { redis: conn, logger: silentLogger })) as Partial<Record<Target, SyncConnector>>;
    const sync = new SyncWorker({ config, connection: conn, connectors, directory, links: new LinkStore(conn, prefix), audit: new AuditLog(conn, prefix), logger: silentLogger });
    const syncEvents = new QueueEvents(QUEUES.sync, { connection: conn, prefix });
    const fullSync = async (mode: 'plan' | 'apply', planId?: string) => {
      const job = await sync.queue.add(JOB_NAMES.fullSync, { schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), targets: ['crowd'], mode, ...(planId && { planId }) });
      return ((await job.waitUntilFinished(syncEvents, 30_000)) as { plans: PlanMeta[] }).plans[0]!;
    };
    try {
      await Promise.all([sync.start(), syncEvents.waitUntilReady()]);
      const plan = await fullSync('plan');
      expect([plan.status, plan.counts]).toEqual(['planned', { ...emptyCounts(), create: 1, unchanged: USERS + 1 }]);
      expect((await sync.plans.entries(plan.id, 0, 10)).map((e) => [e.action, e.appUserId])).toEqual([['create', 'n1']]);
      const applied = await fullSync('apply', plan.id);
      expect([applied.status, applied.apply]).toEqual(['applied', expect.objectContaining({ total: 1, succeeded: 1, failed: 0 })]);
      expect(await new CrowdRest(crowd).user('newcomer')).toMatchObject({ name: 'newcomer', 'first-name': 'New', 'last-name': 'Comer' });
      expect((await fullSync('plan')).counts).toEqual({ ...emptyCounts(), unchanged: USERS + 2 });
    } finally {
      await syncEvents.close();
      await sync.close();
    }
  }, chaosTimeoutMs(30_000, 120_000));

  it('doctor checks the settings of every master', async () => {
    const [, second] = cluster.masters;
    const node = createRedis(second!.url, 'worker');
    const config = loadConfig({ REDIS_URL: cluster.url, IDSYNC_PREFIX: prefix, ...crowdEnv(crowd.info), ...entraEnv(entra.info) });
    const doctor = () => runDoctor({
      config, redis: conn, connectors: { crowd: new FakeConnector('crowd'), entra: new FakeConnector('entra') },
      entraRoles: async () => new Set(['User.ReadWrite.All']), directory: new MemoryDirectory([]),
    });
    try {
      const healthy = Object.fromEntries((await doctor()).checks.map((c) => [c.name, c]));
      expect([healthy['redis maxmemory-policy'], healthy['redis appendonly']]).toEqual([
        { name: 'redis maxmemory-policy', ok: true, detail: 'noeviction' }, { name: 'redis appendonly', ok: true, detail: 'AOF on' },
      ]);
      await node.config('SET', 'maxmemory-policy', 'allkeys-lru');
      const evicting = Object.fromEntries((await doctor()).checks.map((c) => [c.name, c]));
      expect(evicting['redis maxmemory-policy']).toMatchObject({ ok: false, detail: `allkeys-lru on 127.0.0.1:${second!.port}: Redis may evict queue keys under memory pressure` });
    } finally {
      await node.config('SET', 'maxmemory-policy', 'noeviction');
      node.disconnect();
    }
  });

  it('keeps every key under the prefix, in its one hash slot; scanPrefix finds them on their master and deletePrefix removes them', async () => {
    for (const w of workers.splice(0)) expect(await w.stop()).toBe(0);
    const everywhere: string[] = [];
    for (const master of cluster.masters) {
      const node = createRedis(master.url, 'worker');
      try {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'COUNT', 1000);
          cursor = next;
          everywhere.push(...keys);
        } while (cursor !== '0');
      } finally {
        node.disconnect();
      }
    }
    expect(everywhere.length).toBeGreaterThan(0);
    expect(everywhere.filter((k) => !k.startsWith(`${prefix}:`))).toEqual([]);
    const slots = new Set(await Promise.all(everywhere.slice(0, 50).map((k) => conn.cluster('KEYSLOT', k))));
    expect(slots.size).toBe(1);

    // A SCAN sent to the cluster lands on one random master: only scanning every master finds
    // the prefix's keys each time (a one-node scan would pass all six by chance once in 729).
    // Keys with a TTL (BullMQ's stalled-check marker) may expire between two listings: compare the lasting ones.
    const ttls = await Promise.all(everywhere.map((k) => conn.pttl(k)));
    const lasting = new Set(everywhere.filter((_, i) => ttls[i] === -1));
    expect(lasting.size).toBeGreaterThan(0);
    for (let round = 0; round < 6; round++) {
      const scanned: string[] = [];
      for await (const keys of scanPrefix(conn, prefix)) scanned.push(...keys);
      expect(scanned.filter((k) => lasting.has(k)).sort()).toEqual([...lasting].sort());
    }
    await deletePrefix(conn, prefix);
    const left: string[] = [];
    for await (const keys of scanPrefix(conn, prefix)) left.push(...keys);
    expect(left).toEqual([]);
  }, 30_000);
});
