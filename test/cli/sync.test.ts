import { crowdEnv, type CrowdEmulator } from '../../emulators/crowd/index.js';
import { MemoryDirectory } from '../helpers/memory-directory.js';
import { runIdsync } from '../helpers/cli.js';
import { startSyncHarness, type SyncHarness } from '../helpers/sync-harness.js';
import { startEmulator } from '../workers/crowd/helpers.js';

// `idsync sync …` as a script runs it, with the sync worker running in this process on the
// same prefix. Exit codes: 0 done, 1 failed, 3 staged.

describe('idsync sync', () => {
  let em: CrowdEmulator;
  let dir: MemoryDirectory;
  let s: SyncHarness;

  beforeAll(async () => {
    em = await startEmulator();
    em.seed([{ name: 'dave', email: 'dave@example.com' }]);
    dir = new MemoryDirectory([{ id: 'a1', username: 'alice', email: 'alice@example.com', active: true }]);
    s = await startSyncHarness(crowdEnv(em.info), dir);
  });

  afterAll(async () => {
    await s.close();
    await em.close();
  });

  it('plan prints the plan as JSON and exits 0; show lists its entries', async () => {
    const plan = await runIdsync(s.prefix, ['sync', 'plan', 'crowd', '--json']);
    expect(plan.code).toBe(0);
    const out = JSON.parse(plan.stdout);
    expect(out).toMatchObject({ target: 'crowd', status: 'planned', counts: { create: 1, import: 1, update: 0, disable: 0, delete: 0, appUpdate: 0, appDisable: 0, link: 0, unchanged: 0, conflict: 0 } });

    const show = await runIdsync(s.prefix, ['sync', 'show', out.id, '--json', '--limit', '1']);
    expect(show.code).toBe(0);
    expect(JSON.parse(show.stdout).entries).toHaveLength(1);
    const text = await runIdsync(s.prefix, ['sync', 'show', out.id]);
    expect(text.stdout).toMatch(/create +a1/);
  });

  it('run exits 3 when the plan is staged; reject drops it, and approving it then fails with exit 1', async () => {
    const dave = await s.connectors.crowd!.readUser('dave');
    await s.links.update('crowd', 'gone-1', { remoteId: dave!.remoteId, remoteName: 'dave' });
    const run = await runIdsync(s.prefix, ['sync', 'run', 'crowd', '--json']);
    expect(run.code).toBe(3);
    const staged = JSON.parse(run.stdout);
    expect(staged).toMatchObject({ status: 'staged', removals: 1 });
    expect((await s.connectors.crowd!.readUser('dave'))?.active).toBe(true);

    expect((await runIdsync(s.prefix, ['sync', 'reject', staged.id])).code).toBe(0);
    const approve = await runIdsync(s.prefix, ['sync', 'approve', staged.id]);
    expect(approve.code).toBe(1);
    expect(approve.stderr).toMatch(/is rejected; only a staged or planned plan can be approved/);
    await s.links.remove('crowd', 'gone-1');
  });

  it('run exits 1 with the reason on stderr when a listing fails, and refuses an unknown target', async () => {
    dir.failListingAfter = 0;
    const run = await runIdsync(s.prefix, ['sync', 'run', 'crowd', '--json']);
    dir.failListingAfter = undefined;
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ status: 'failed' });
    expect(run.stderr).toMatch(/connection to the application database lost; nothing was applied and nothing removed/);

    const unknown = await runIdsync(s.prefix, ['sync', 'plan', 'ldap']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown target "ldap"/);
  });

  it('provision pushes application users and imports remote ones, printing the result', async () => {
    const push = await runIdsync(s.prefix, ['provision', 'crowd', '--ids', 'a1', '--json']);
    expect(push.code).toBe(0);
    expect(JSON.parse(push.stdout)).toMatchObject({ direction: 'to-target', targets: { crowd: { users: 1, succeeded: 1, failed: 0 } } });
    expect((await s.connectors.crowd!.readUser('alice'))?.email).toBe('alice@example.com');

    const pull = await runIdsync(s.prefix, ['provision', 'crowd', '--from-target', '--remote-ids', 'dave']);
    expect(pull.code).toBe(0);
    expect(pull.stdout).toMatch(/^crowd: 1 users, 1 succeeded, 0 skipped, 0 failed, 0 not found$/m);
    expect([...dir.users.values()].find((u) => u.username === 'dave')).toMatchObject({ email: 'dave@example.com' });

    // An id that names nobody is counted and makes the run exit 1; the others go through.
    const partly = await runIdsync(s.prefix, ['provision', 'crowd', '--ids', 'a1,nobody']);
    expect(partly.code).toBe(1);
    expect(partly.stdout).toMatch(/^crowd: 2 users, 1 succeeded, 0 skipped, 0 failed, 1 not found$/m);

    const bad = await runIdsync(s.prefix, ['provision', 'crowd', '--all', '--ids', 'a1']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/exactly one of --all, --ids and --remote-ids/);
  });
});
