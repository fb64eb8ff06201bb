import { crowdEnv, type CrowdEmulator } from '../../../emulators/crowd/index.js';
import { MemoryDirectory } from '../../helpers/memory-directory.js';
import { startSyncHarness, type SyncHarness } from '../../helpers/sync-harness.js';
import { startEmulator } from '../crowd/helpers.js';
import { entraEnv, type EntraEmulator } from '../../../emulators/entra/index.js';
import { DOMAIN, Graph, startEmulator as startEntra } from '../entra/helpers.js';

const writes = (em: CrowdEmulator) => Object.entries(em.stats().byRoute).filter(([r]) => !r.startsWith('GET')).reduce((n, [, c]) => n + c, 0);

describe('full sync with Crowd: plan, guards, apply, convergence', () => {
  let em: CrowdEmulator;
  let dir: MemoryDirectory;
  let s: SyncHarness;

  beforeEach(async () => {
    em = await startEmulator();
    em.seed([
      { name: 'bob', email: 'bob@example.com', firstName: 'Robert', lastName: 'Builder' },
      { name: 'carol', email: 'carol@example.com', firstName: 'Carol', lastName: 'Remote' },
      { name: 'dave', email: 'dave@example.com', externalId: 'dave-ext' },
      { name: 'twin', email: 'same@example.com' },
    ]);
    dir = new MemoryDirectory([
      { id: 'a1', username: 'alice', email: 'alice@example.com', firstName: 'Alice', lastName: 'App', active: true },
      { id: 'b1', username: 'Bob', email: 'bob@example.com', firstName: 'Bob', lastName: 'Builder', active: true },
      { id: 'e1', username: 'erin', email: 'same@example.com', active: true },
      { id: 'f1', username: 'frank', email: 'SAME@example.com', active: true },
    ]);
  });

  afterEach(async () => {
    await s?.close();
    await em.close();
  });

  const start = (extra: Record<string, string> = {}) => startSyncHarness({ ...crowdEnv(em.info), SYNC_DELETE_THRESHOLD_PERCENT: '100', ...extra }, dir);

  it('plans every kind of entry, applies them through the queues, and a second run plans nothing', async () => {
    s = await start();
    // dave was linked to an application user that has since been deleted.
    const dave = await s.connectors.crowd!.readUser('dave');
    await s.links.update('crowd', 'gone-1', { remoteId: dave!.remoteId, remoteName: 'dave' });

    const plan = await s.fullSync('crowd', 'plan');
    expect(plan.status).toBe('planned');
    expect(plan.counts).toMatchObject({ create: 3, link: 1, import: 1, disable: 1, conflict: 1, update: 0 });
    const entries = await s.sync.plans.entries(plan.id, 0, 100);
    // b1 has no displayName: a push leaves Crowd's alone, so the plan does not compare it.
    expect(entries.find((e) => e.action === 'link')).toMatchObject({ appUserId: 'b1', diff: [{ attribute: 'firstName', app: 'Bob', target: 'Robert' }] });
    expect(entries.find((e) => e.action === 'conflict')?.reason).toMatch(/several application users/);
    expect(writes(em)).toBe(0); // planning writes nothing

    const applied = await s.fullSync('crowd', 'apply', plan.id);
    expect(applied.status).toBe('applied');
    expect(applied.apply).toMatchObject({ failed: 0 });
    const crowd = s.connectors.crowd!;
    expect((await crowd.readUser('alice'))?.firstName).toBe('Alice');
    expect((await crowd.readUser('bob'))?.firstName).toBe('Bob');
    expect((await crowd.readUser('dave'))?.active).toBe(false);
    expect([...dir.users.values()].find((u) => u.username === 'carol')).toMatchObject({ email: 'carol@example.com', firstName: 'Carol' });
    expect(await s.links.findByRemoteId('crowd', (await crowd.readUser('carol'))!.remoteId)).toBeDefined();

    const before = writes(em);
    const again = await s.fullSync('crowd', 'apply');
    expect(again.counts).toMatchObject({ create: 0, update: 0, link: 0, import: 0, disable: 0, delete: 0, appUpdate: 0, appDisable: 0, conflict: 1 });
    expect(writes(em)).toBe(before);
  });

  it('a dry run stores the plan and never applies it', async () => {
    s = await start();
    const plan = await s.fullSync('crowd', 'dry-run');
    expect(plan).toMatchObject({ status: 'planned', dryRun: true });
    expect(writes(em)).toBe(0);
    await expect(s.fullSync('crowd', 'apply', plan.id)).rejects.toThrow(/dry run/);
  });

  it('an application listing cut short mid-way fails the run with zero removals', async () => {
    for (let i = 0; i < 30; i++) dir.users.set(`z${i}`, { id: `z${i}`, username: `z${i}`, email: `z${i}@example.com`, active: true });
    s = await start();
    const dave = await s.connectors.crowd!.readUser('dave');
    await s.links.update('crowd', 'z9', { remoteId: dave!.remoteId, remoteName: 'dave' });
    dir.failListingAfter = 10;
    const plan = await s.fullSync('crowd', 'apply');
    expect(plan.status).toBe('failed');
    expect(plan.reason).toMatch(/connection to the application database lost.*nothing removed/);
    expect(await s.sync.plans.entryCount(plan.id)).toBe(0);
    expect((await s.connectors.crowd!.readUser('dave'))?.active).toBe(true);
    expect(writes(em)).toBe(0);
  });

  it('a remote listing that fails mid-way fails the run with zero removals', async () => {
    s = await start();
    const dave = await s.connectors.crowd!.readUser('dave');
    await s.links.update('crowd', 'gone-1', { remoteId: dave!.remoteId, remoteName: 'dave' });
    // Every search fails: a read's retries in place cannot ride it out, so the listing fails.
    em.setFaults({ serverErrorRate: 1, serverErrorStatus: 503, onlyRoutes: ['search'] });
    const plan = await s.fullSync('crowd', 'apply');
    expect(plan.status).toBe('failed');
    expect((await s.connectors.crowd!.readUser('dave'))?.active).toBe(true);
  });

  it('removals above the threshold are staged, then applied after approval or dropped after rejection', async () => {
    s = await start({ SYNC_DELETE_THRESHOLD_PERCENT: '5', SYNC_IMPORT_UNMATCHED: 'false' });
    const dave = await s.connectors.crowd!.readUser('dave');
    await s.links.update('crowd', 'gone-1', { remoteId: dave!.remoteId, remoteName: 'dave' });
    const staged = await s.fullSync('crowd', 'apply');
    expect(staged.status).toBe('staged');
    expect(staged.reason).toMatch(/waiting for an operator/);
    expect((await s.connectors.crowd!.readUser('dave'))?.active).toBe(true);
    await expect(s.fullSync('crowd', 'apply', staged.id)).rejects.toThrow(/staged/);

    const { approvePlan, rejectPlan } = await import('../../../workers/sync/operators.js');
    const { jobId } = await approvePlan(s.sync.plans, s.sync.queue, staged.id);
    expect(jobId).toBeDefined();
    const { QueueEvents, Job } = await import('bullmq');
    // From the stream's start: the job may finish before this reader's first XREAD.
    const ev = new QueueEvents('sync', { connection: { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' }, prefix: s.prefix, lastEventId: '0-0' });
    await ev.waitUntilReady();
    const job = await Job.fromId(s.sync.queue, jobId);
    if (!(await job!.isCompleted())) await job!.waitUntilFinished(ev, 30_000);
    await ev.close();
    expect((await s.sync.plans.get(staged.id))?.status).toBe('applied');
    expect((await s.connectors.crowd!.readUser('dave'))?.active).toBe(false);

    await s.connectors.crowd!.readUser('dave');
    const second = await s.fullSync('crowd', 'plan');
    await expect(rejectPlan(s.sync.plans, second.id)).resolves.toMatchObject({ status: 'rejected' });
    await expect(s.fullSync('crowd', 'apply', second.id)).rejects.toThrow(/rejected/);
  });
});

describe('full sync: an apply interrupted by a crash', () => {
  it('re-running the plan finishes the rest, with no duplicate creates', async () => {
    const em = await startEmulator();
    const dir = new MemoryDirectory(Array.from({ length: 7 }, (_, i) => ({ id: `n${i}`, username: `new${i}`, email: `new${i}@example.com`, active: true })));
    const s = await startSyncHarness({ ...crowdEnv(em.info), SYNC_DELETE_THRESHOLD_PERCENT: '100' }, dir);
    try {
      const plan = await s.fullSync('crowd', 'plan');
      expect(plan.counts.create).toBe(7);
      // Apply two entries at a time and "crash" while waiting for the second chunk's jobs.
      const { applyPlan } = await import('../../../workers/sync/apply.js');
      const { ProgressReporter } = await import('../../../workers/sync/progress.js');
      const { SyncQueues } = await import('../../../workers/sync/queues.js');
      const queues = new SyncQueues({ connection: s.redis, prefix: s.prefix, attempts: 3, backoffMs: 20 });
      const crash = new AbortController();
      const progress = new ProgressReporter((p) => {
        if (p.phase === 'applying' && p.done >= 3) crash.abort(new Error('worker killed'));
      }, { intervalMs: 0 });
      const logger = (await import('../../../shared/logger.js')).silentLogger;
      await expect(applyPlan({ store: s.sync.plans, queues, directory: dir, links: s.links, progress, logger, chunkSize: 2, abortSignal: crash.signal }, plan)).rejects.toThrow('worker killed');
      await queues.close();
      const interrupted = await s.sync.plans.get(plan.id);
      expect(interrupted?.status).toBe('applying');
      expect(await s.sync.plans.cursor(plan.id)).toBeLessThan(7);

      const finished = await s.fullSync('crowd', 'apply', plan.id);
      expect(finished.status).toBe('applied');
      for (let i = 0; i < 7; i++) expect(await s.connectors.crowd!.readUser(`new${i}`)).not.toBeNull();
      // One create per user: the chunk handed out twice coalesced or found its users already there.
      expect(em.stats().byRoute['POST user']).toBe(7);
    } finally {
      await s.close();
      await em.close();
    }
  });
});

describe('full sync with Entra: an omitted displayName is not compared', () => {
  let em: EntraEmulator;
  let s: SyncHarness | undefined;

  afterEach(async () => {
    await s?.close();
    s = undefined;
    await em.close();
  });

  it('plans no update for an app user without a displayName whose Entra user has one (no ping-pong)', async () => {
    em = await startEntra();
    const dir = new MemoryDirectory([{ id: 'a1', username: 'alice', email: 'alice@example.com', firstName: 'Alice', lastName: 'App', active: true }]);
    s = await startSyncHarness({ ...entraEnv(em.info), SYNC_DELETE_THRESHOLD_PERCENT: '100' }, dir);
    expect((await s.fullSync('entra', 'apply')).counts).toMatchObject({ create: 1 });
    const graph = new Graph(em);
    const created = await graph.user(`alice@${DOMAIN}`);
    // Graph requires a displayName, so the create wrote the default.
    expect(created).toMatchObject({ displayName: 'Alice App' });
    // Someone gives the user a display name in Entra; the app has none, so a push leaves it alone.
    expect((await graph.call('PATCH', `/users/${created!.id}`, { displayName: 'Dr Alice App' })).status).toBe(204);

    const plan = await s.fullSync('entra', 'plan');
    expect(plan.counts).toMatchObject({ update: 0, create: 0 });
    expect((await s.fullSync('entra', 'apply')).counts).toMatchObject({ update: 0 });
    expect(await graph.user(`alice@${DOMAIN}`)).toMatchObject({ displayName: 'Dr Alice App' });

    // A displayName the app does set is compared and pushed.
    dir.users.set('a1', { ...dir.users.get('a1')!, displayName: 'Alice' });
    const again = await s.fullSync('entra', 'plan');
    expect(again.counts).toMatchObject({ update: 1 });
    const entries = await s.sync.plans.entries(again.id, 0, 10);
    expect(entries.find((e) => e.action === 'update')).toMatchObject({ diff: [{ attribute: 'displayName', app: 'Alice', target: 'Dr Alice App' }] });
  });
});
