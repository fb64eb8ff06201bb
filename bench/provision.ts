import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { entraEnv, type EntraConnectionInfo, type EntraStatsSnapshot } from '../emulators/entra/index.js';
import { openSqlDirectory } from '../workers/app/sql/index.js';
import { printTable } from './report.js';
import { deletePrefix, startEmulatorProcess, stopwatch } from './support.js';
import { createBenchDatabase, loadAppUsers, startWorkerProcess, type BenchAppRow } from './sync-support.js';

export interface BenchProvisionOptions {
  redisUrl: string;
  /** Application users provisioned into the empty tenant. @defaultValue 12000 (30 s at the quota floor) */
  users?: number;
  /** Entra emulator time scale, as in bench/entra.ts. @defaultValue 0.05 (400 writes/s) */
  timeScale?: number;
}

const GRAPH_WRITES = 3000;
const GRAPH_WINDOW_SECONDS = 150;
/** The emulator's CA lives here; the worker process trusts it through NODE_EXTRA_CA_CERTS. */
const ENTRA_STATE_DIR = fileURLToPath(new URL('../.idsync/entra', import.meta.url));

/**
 * Initial provisioning into Entra: N application users (PostgreSQL) into an empty tenant by
 * a `provision` job (scope all, to the target) on `idsync worker` in its own process, with
 * ENTRA_WRITES_PER_SECOND at the allowed rate. The floor is Graph's write quota: N writes at
 * 3,000 per 150 s, time-scaled; the figure is wall time (job enqueued → result) ÷ that floor.
 */
export async function benchProvision(options: BenchProvisionOptions) {
  const users = options.users ?? 12_000;
  const scale = options.timeScale ?? 0.05;
  const allowed = GRAPH_WRITES / (GRAPH_WINDOW_SECONDS * scale);
  const floor = users / allowed;
  const db = await createBenchDatabase();
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  const prefix = `{bench-provision-${randomBytes(3).toString('hex')}}`;
  const em = await startEmulatorProcess<EntraConnectionInfo>(new URL('../emulators/entra/index.js', import.meta.url).href, 'startEntraEmulator', { port: 0, timeScale: scale, stateDir: ENTRA_STATE_DIR });
  let worker: Awaited<ReturnType<typeof startWorkerProcess>> | undefined;
  try {
    // The default table is created on open; the rows go in with plain SQL, as an application's would be there already.
    await (await openSqlDirectory({ engine: { kind: 'pg', databaseUrl: db.url } })).close();
    await loadAppUsers(db.url, Array.from({ length: users }, (_, i): BenchAppRow => ({
      id: `app-${i}`, username: `p${i}`, email: `p${i}@example.com`, firstName: 'First', lastName: `Last ${i}`, displayName: `First Last ${i}`,
    })));
    worker = await startWorkerProcess(
      { ...entraEnv(em.info), IDSYNC_TARGETS: 'entra', ENTRA_CONCURRENCY: '50', ENTRA_WRITES_PER_SECOND: String(allowed), APP_DATABASE_URL: db.url, NODE_EXTRA_CA_CERTS: join(ENTRA_STATE_DIR, 'ca.pem') },
      { redis, redisUrl: options.redisUrl, prefix },
    );
    const before = (await em.admin('GET', '/stats')) as EntraStatsSnapshot;
    const elapsed = stopwatch();
    const result = await worker.provision('entra');
    const seconds = elapsed();
    const after = (await em.admin('GET', '/stats')) as EntraStatsSnapshot;
    const tally = result.targets.entra ?? { users: 0, succeeded: 0, skipped: 0, failed: 0 };
    const writes = after.writes - before.writes;
    const batches = after.batchRequests - before.batchRequests;
    const n = (v: number) => v.toLocaleString('en-US');
    printTable(`Initial provisioning into Entra (${n(users)} application users on PostgreSQL into an empty tenant; Graph's ${n(GRAPH_WRITES)} writes / ${GRAPH_WINDOW_SECONDS} s at timeScale ${scale} = ${allowed} writes/s; \`idsync worker\` in its own process, ENTRA_WRITES_PER_SECOND ${allowed})`, [
      { name: 'provisioning time (job enqueued → result) vs the quota floor', value: seconds, unit: 's', baseline: floor, goal: 1.05, goalAtMost: true, note: `floor = ${n(users)} writes at ${allowed} writes/s` },
      { name: 'users in the tenant afterwards', value: after.users, unit: 'users', baseline: users, goal: 1, note: `${n(tally.succeeded)} succeeded, ${n(tally.skipped)} skipped` },
      { name: 'failed jobs', value: tally.failed, unit: 'jobs', goal: 0, goalAtMost: true },
      { name: 'writes admitted vs users', value: writes, unit: 'writes', baseline: users, goal: 1, goalAtMost: true, note: 'one POST /users per user' },
      { name: '429 responses from Graph', value: after.throttled - before.throttled, unit: '', goal: 0, goalAtMost: true },
      { name: 'writes per $batch request', value: (after.batchItems - before.batchItems) / Math.max(1, batches), unit: 'items', note: `${n(batches)} batches` },
    ]);
    return { users, seconds, floorSeconds: floor, ratio: seconds / floor, failed: tally.failed, writes };
  } finally {
    await worker?.close();
    await deletePrefix(redis, prefix);
    await redis.quit();
    await em.close();
    await db.drop();
  }
}
