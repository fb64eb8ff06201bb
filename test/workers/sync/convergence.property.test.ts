import { Job, Queue, QueueEvents } from 'bullmq';
import fc from 'fast-check';
import { crowdEnv, type CrowdEmulator } from '../../../emulators/crowd/index.js';
import { createSyncClient, type SyncClient } from '../../../producers/client.js';
import { defaultAuthority } from '../../../shared/config.js';
import { QUEUES } from '../../../shared/jobs.js';
import type { AppUser } from '../../../workers/app/directory.js';
import type { PlanMeta } from '../../../workers/sync/plan-store.js';
import { TEST_KEY } from '../../helpers/harness.js';
import { MemoryDirectory } from '../../helpers/memory-directory.js';
import { REDIS_URL } from '../../helpers/redis.js';
import { startSyncHarness, type SyncHarness } from '../../helpers/sync-harness.js';
import { CrowdRest, startEmulator } from '../crowd/helpers.js';

// Two-way convergence under random interleavings of application edits (with or without a
// live event), edits made in Crowd behind idsync's back, and full syncs. Crowd owns lastName
// here; the application owns everything else idsync pushes.

type AppField = 'firstName' | 'lastName' | 'email' | 'active';
type Step =
  | { kind: 'app'; user: number; field: AppField; value: string | boolean; live: boolean }
  | { kind: 'remote'; user: number; field: 'firstName' | 'lastName'; value: string }
  | { kind: 'sync' };

const NAMES = ['Ann', 'Ben', 'Cy', 'Dee'];
const name = fc.constantFrom(...NAMES);

const appEdit: fc.Arbitrary<Step> = fc.record({
  kind: fc.constant('app' as const),
  user: fc.nat({ max: 4 }),
  live: fc.boolean(),
}).chain((base) =>
  fc.oneof(
    fc.record({ field: fc.constantFrom<AppField>('firstName', 'lastName'), value: name }),
    fc.record({ field: fc.constant<AppField>('email'), value: fc.constantFrom('a', 'b', 'c') }),
    fc.record({ field: fc.constant<AppField>('active'), value: fc.boolean() }),
  ).map((edit) => ({ ...base, ...edit })),
);
const remoteEdit: fc.Arbitrary<Step> = fc.record({
  kind: fc.constant('remote' as const),
  user: fc.nat({ max: 4 }),
  field: fc.constantFrom('firstName' as const, 'lastName' as const),
  value: name,
});
const syncStep: fc.Arbitrary<Step> = fc.constant({ kind: 'sync' as const });

const scenario = fc.record({
  users: fc.array(fc.record({ firstName: name, lastName: name, active: fc.boolean() }), { minLength: 2, maxLength: 5 }),
  steps: fc.array(fc.oneof(appEdit, remoteEdit, syncStep), { minLength: 1, maxLength: 8 }),
});

// Every attribute is spelled out: the variable's schema rejects a partial map.
const AUTHORITY = JSON.stringify({ ...defaultAuthority('crowd'), lastName: 'target' });
const isWrite = (route: string) => !route.startsWith('GET');
const writeRequests = (em: CrowdEmulator) => Object.entries(em.stats().byRoute).filter(([r]) => isWrite(r)).reduce((n, [, c]) => n + c, 0);
const REMOTE_KEYS = { firstName: 'first-name', lastName: 'last-name' } as const;
const snapshotOf = (u: AppUser) => ({
  id: u.id, username: u.username, email: u.email, active: u.active, version: u.version!,
  ...(u.firstName && { firstName: u.firstName }), ...(u.lastName && { lastName: u.lastName }),
});

interface World {
  em: CrowdEmulator;
  dir: MemoryDirectory;
  s: SyncHarness;
  rest: CrowdRest;
  client: SyncClient;
  crowdQueue: Queue;
  crowdEvents: QueueEvents;
  /** Write requests the test itself sent to Crowd (someone else editing it). */
  ownWrites: number;
}

async function startWorld(users: AppUser[]): Promise<World> {
  const em = await startEmulator({ allowEmailChange: true });
  const dir = new MemoryDirectory(users);
  const s = await startSyncHarness({ ...crowdEnv(em.info), SYNC_DELETE_THRESHOLD_PERCENT: '100', SYNC_AUTHORITY_CROWD: AUTHORITY }, dir).catch(async (err: unknown) => {
    await em.close();
    throw err;
  });
  const client = createSyncClient({ redisUrl: REDIS_URL, prefix: s.prefix, targets: ['crowd'], secretKey: TEST_KEY, backoffMs: 20, attempts: 4 });
  const crowdQueue = new Queue(QUEUES.crowd, { connection: s.redis, prefix: s.prefix });
  const crowdEvents = new QueueEvents(QUEUES.crowd, { connection: { url: REDIS_URL }, prefix: s.prefix, lastEventId: '0-0' });
  await crowdEvents.waitUntilReady();
  return { em, dir, s, rest: new CrowdRest(em), client, crowdQueue, crowdEvents, ownWrites: 0 };
}

async function closeWorld(w: World): Promise<void> {
  await w.client.close();
  await w.crowdEvents.close();
  await w.crowdQueue.close();
  await w.s.close();
  await w.em.close();
}

async function applied(w: World): Promise<PlanMeta> {
  const plan = await w.s.fullSync('crowd', 'apply');
  expect(plan.status).toBe('applied');
  return plan;
}

describe('two-way convergence with Crowd (property)', () => {
  // This property once caught pushes ignoring per-attribute authority: a Crowd-side lastName
  // edit was overwritten by the app's stale value (and the app took Crowd's), so the two swapped.
  it('any interleaving of app edits, live events, Crowd edits and full syncs converges to each attribute\'s authority, without ping-pong', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ users, steps }) => {
        const initial: AppUser[] = users.map((u, i) => ({
          id: `u${i}`, username: `user${i}`, email: `user${i}@example.com`, firstName: u.firstName, lastName: u.lastName, active: u.active, version: 1,
        }));
        const w = await startWorld(initial);
        try {
          // The model: what each attribute's owner last set.
          const model = new Map(initial.map((u) => [u.id, { firstName: u.firstName, email: u.email, active: u.active, lastName: u.lastName }]));
          // Every app user is created in Crowd (an inactive one only once it is active).
          const first = await applied(w);
          const creates = first.counts.create;
          expect(writeRequests(w.em)).toBe(creates);
          let appEdits = 0;
          let remoteAppOwnedEdits = 0;

          // A user Crowd does not have yet is created with every value the app has, the
          // Crowd-owned last name included: from then on Crowd owns it.
          const createdFromApp = async () => {
            for (const u of w.dir.users.values()) {
              const r = await w.rest.call('GET', `user?username=${encodeURIComponent(u.username)}`);
              if (r.status === 404) model.get(u.id)!.lastName = u.lastName!;
            }
          };

          for (const step of steps) {
            if (step.kind === 'sync') {
              await createdFromApp();
              await applied(w);
              continue;
            }
            const id = `u${step.user % initial.length}`;
            const m = model.get(id)!;
            if (step.kind === 'app') {
              const value = step.field === 'email' ? `user${id.slice(1)}+${String(step.value)}@example.com` : step.value;
              // The application's own write: the row changes and its version moves on.
              const row = w.dir.users.get(id)! as unknown as Record<string, unknown> & { version?: number };
              if (row[step.field] === value) continue;
              row[step.field] = value;
              row.version = Math.max(Date.now(), (row.version ?? 0) + 1);
              appEdits++;
              if (step.field !== 'lastName') (m as Record<string, unknown>)[step.field] = value;
              if (step.live) {
                // A live event for a user Crowd does not have yet creates it with every value
                // the app has, the Crowd-owned last name included: from then on Crowd owns it.
                const username = w.dir.users.get(id)!.username;
                const existed = (await w.rest.call('GET', `user?username=${encodeURIComponent(username)}`)).status === 200;
                if (!existed) m.lastName = w.dir.users.get(id)!.lastName!;
                const [enqueued] = await w.client.userChanged(snapshotOf(w.dir.users.get(id)!));
                const job = await Job.fromId(w.crowdQueue, enqueued!.jobId);
                await job!.waitUntilFinished(w.crowdEvents, 15_000);
              }
              continue;
            }
            // Someone edits the user in Crowd, behind idsync's back (GET, then PUT the whole profile).
            const username = w.dir.users.get(id)!.username;
            const r = await w.rest.call('GET', `user?username=${encodeURIComponent(username)}`);
            if (r.status === 404) continue; // never created (inactive from the start)
            expect(r.status).toBe(200);
            const body = { name: r.json.name, 'first-name': r.json['first-name'], 'last-name': r.json['last-name'], email: r.json.email, active: r.json.active, [REMOTE_KEYS[step.field]]: step.value };
            if (body[REMOTE_KEYS[step.field]] === r.json[REMOTE_KEYS[step.field]]) continue;
            const put = await w.rest.call('PUT', `user?username=${encodeURIComponent(username)}`, body);
            expect(put.status).toBe(204);
            w.ownWrites++;
            if (step.field === 'lastName') m.lastName = step.value;
            else remoteAppOwnedEdits++;
          }

          await createdFromApp();
          await applied(w);

          // 1. Convergence to each attribute's authority.
          for (const u of w.dir.users.values()) {
            const m = model.get(u.id)!;
            const remote = await w.rest.call('GET', `user?username=${encodeURIComponent(u.username)}`);
            if (remote.status === 404) {
              // Never active since the start: nothing to create.
              expect(u.active).toBe(false);
              continue;
            }
            const c = remote.json;
            // The application owns these: Crowd has the app's value, and the app kept its own.
            expect({ id: u.id, firstName: c['first-name'], email: c.email, active: c.active }).toEqual({ id: u.id, firstName: u.firstName, email: u.email, active: u.active });
            expect({ id: u.id, firstName: u.firstName, email: u.email, active: u.active }).toEqual({ id: u.id, firstName: m.firstName, email: m.email, active: m.active });
            // Crowd owns lastName: the app has Crowd's value, and Crowd kept its own.
            expect({ id: u.id, lastName: u.lastName }).toEqual({ id: u.id, lastName: c['last-name'] });
            expect({ id: u.id, lastName: c['last-name'] }).toEqual({ id: u.id, lastName: m.lastName });
          }

          // 2. No ping-pong: one more full sync has nothing to do and writes nowhere.
          const crowdWritesBefore = writeRequests(w.em);
          const appWritesBefore = w.dir.writes;
          const again = await applied(w);
          expect(again.counts).toMatchObject({ create: 0, update: 0, appUpdate: 0, import: 0, disable: 0 });
          expect(writeRequests(w.em)).toBe(crowdWritesBefore);
          expect(w.dir.writes).toBe(appWritesBefore);

          // 3. idsync's Crowd writes never outnumber the edits that called for them.
          const idsyncWrites = writeRequests(w.em) - w.ownWrites;
          expect(idsyncWrites).toBeLessThanOrEqual(appEdits + remoteAppOwnedEdits + creates);
        } finally {
          await closeWorld(w);
        }
      }),
      {
        numRuns: Number(process.env.IDSYNC_PROPERTY_RUNS ?? 15),
        verbose: true,
        // The shrunk counterexample of the failure below, always tried first.
        examples: [[{ users: [{ firstName: 'Ann', lastName: 'Ann', active: true }, { firstName: 'Ann', lastName: 'Ann', active: false }], steps: [{ kind: 'remote', user: 0, field: 'lastName', value: 'Dee' }] }]],
      },
    );
  }, 120_000);
});
