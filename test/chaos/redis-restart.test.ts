// kill -9 of Redis mid-run, then a start on the same port and AOF: every event whose enqueue
// resolved is applied, and the client and the worker process carry on without a restart.
import type { UserSnapshotInput } from '../../shared/jobs.js';
import { hasRedisServer } from './support/private-redis.js';
import { chaosSize, chaosTimeoutMs } from './support/scale.js';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process.js';
import { chaosUsers, drained, failedJobs, mismatches, startWorld, type ChaosWorld } from './support/world.js';

const USERS = chaosSize(600, 10_000);
const LANES = 4;
const run = hasRedisServer ? describe : describe.skip;

run('chaos: Redis restart', () => {
  let world: ChaosWorld | undefined;
  let worker: WorkerProcess | undefined;
  afterEach(async () => {
    await worker?.kill9();
    await world?.close();
    worker = world = undefined;
  });

  it(`applies every acknowledged event; client and worker recover alone (${USERS} users)`, async () => {
    world = await startWorld();
    const w = world;
    // Default lock and stall check: the outage is about reconnecting, not about stalls.
    const { IDSYNC_LOCK_DURATION_MS: _l, IDSYNC_STALLED_INTERVAL_MS: _s, ...env } = w.workerEnv;
    worker = await startWorkerProcess(['crowd', 'entra'], env);

    const users = chaosUsers(USERS);
    const acknowledged: UserSnapshotInput[] = [];
    let refused = 0;
    let restarted = false;
    let ackedAfterRestart = 0;
    let outage: Promise<void> | undefined;
    let firstRefusal!: () => void;
    const refusedOnce = new Promise<void>((resolve) => (firstRefusal = resolve));
    let next = 0;
    const lane = async () => {
      while (next < users.length) {
        const u = users[next++]!;
        try {
          await w.client.userChanged(u);
          acknowledged.push(u);
          if (restarted) ackedAfterRestart++;
        } catch {
          refused++;
          firstRefusal();
        }
        // A third in: Redis dies; once the client has seen it refuse, Redis comes back.
        if (acknowledged.length === Math.floor(USERS / 3) && !outage) {
          outage = (async () => {
            await w.redis.kill();
            await refusedOnce;
            await w.redis.start();
            restarted = true;
          })();
        }
      }
    };
    await Promise.all(Array.from({ length: LANES }, lane));
    await outage;
    // Users the outage refused are pushed again after it, as an application would retry them.
    const acked = new Set(acknowledged);
    const retried = users.filter((u) => !acked.has(u));
    for (const u of retried) {
      await w.client.userChanged(u);
      acknowledged.push(u);
      ackedAfterRestart++;
    }

    await drained(w, chaosTimeoutMs(60_000, 600_000));
    expect(refused).toBeGreaterThan(0);
    expect(ackedAfterRestart).toBeGreaterThan(0);
    expect(() => process.kill(worker!.pid, 0)).not.toThrow(); // the same process, never restarted
    expect(await failedJobs(w)).toEqual({ crowd: 0, entra: 0 });
    expect(await mismatches(w, acknowledged)).toEqual([]);
    expect(w.crowd.stats().users - w.baseline.crowd).toBe(USERS);
    expect(w.entra.stats().users - w.baseline.entra).toBe(USERS);
  }, chaosTimeoutMs(90_000, 900_000));
});
