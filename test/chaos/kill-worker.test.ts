// kill -9 of a worker process mid pushes: the jobs it held are found stalled once their lock
// expires and run again in its successor; every user ends exact on both remotes, once.
import { QueueEvents } from 'bullmq';
import { QUEUES } from '../../shared/jobs.js';
import { waitFor } from '../helpers/wait.js';
import { hasRedisServer } from './support/private-redis.js';
import { chaosSize, chaosTimeoutMs } from './support/scale.js';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process.js';
import { chaosUsers, drained, duplicateCreates, failedJobs, mismatches, startWorld, type ChaosWorld } from './support/world.js';

const USERS = chaosSize(1000, 10_000);
const run = hasRedisServer ? describe : describe.skip;

run('chaos: kill -9 of a worker process', () => {
  let world: ChaosWorld | undefined;
  const processes: WorkerProcess[] = [];
  afterEach(async () => {
    for (const p of processes.splice(0)) await p.kill9();
    await world?.close();
    world = undefined;
  });

  it(`loses nothing, duplicates nothing and fails nothing (${USERS} users)`, async () => {
    world = await startWorld();
    const w = world;
    const stalled = new Set<string>();
    const events = [QUEUES.crowd, QUEUES.entra].map((name) => {
      const e = new QueueEvents(name, { connection: { url: w.redis.url }, prefix: w.prefix });
      e.on('stalled', ({ jobId }) => stalled.add(`${name}:${jobId}`));
      return e;
    });
    try {
      await Promise.all(events.map((e) => e.waitUntilReady()));
      const first = await startWorkerProcess(['crowd', 'entra'], w.workerEnv);
      processes.push(first);
      const users = chaosUsers(USERS);
      await w.client.userChangedMany(users);

      // Mid pushes: a fifth of the users exist on Crowd, and jobs are in flight.
      await waitFor(() => w.crowd.stats().users - w.baseline.crowd >= USERS / 5, 60_000);
      await first.kill9();
      const held = (await w.queues.crowd.getActiveCount()) + (await w.queues.entra.getActiveCount());
      expect(held).toBeGreaterThan(0);

      // While no worker runs, a tenth of the users change again: the last snapshot must win.
      const changed = chaosUsers(USERS / 10, 0, 2, (i) => `Changed${i}`);
      await w.client.userChangedMany(changed);

      processes.push(await startWorkerProcess(['crowd', 'entra'], w.workerEnv));
      await drained(w, chaosTimeoutMs(60_000, 600_000));

      expect(stalled.size).toBeGreaterThan(0);
      expect(await failedJobs(w)).toEqual({ crowd: 0, entra: 0 });
      expect(w.crowd.stats().users - w.baseline.crowd).toBe(USERS);
      expect(w.entra.stats().users - w.baseline.entra).toBe(USERS);
      // A job killed between its remote write and its audit entry leaves no `create` entry; its
      // second run finds the user and records what it did then. Never two creates of one user.
      const { creates, duplicates } = await duplicateCreates(w);
      expect(duplicates).toEqual([]);
      expect(creates.crowd).toBeLessThanOrEqual(USERS);
      expect(creates.entra).toBeLessThanOrEqual(USERS);
      const final = [...changed, ...users.slice(changed.length)];
      expect(await mismatches(w, final)).toEqual([]);
    } finally {
      await Promise.all(events.map((e) => e.close()));
    }
  }, chaosTimeoutMs(90_000, 900_000));
});
