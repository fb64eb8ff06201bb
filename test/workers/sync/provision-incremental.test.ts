import { crowdEnv } from '../../../emulators/crowd/index.js';
import { entraEnv, type EntraEmulator } from '../../../emulators/entra/index.js';
import { CrowdRest, startEmulator as startCrowd } from '../crowd/helpers.js';
import { JOB_NAMES, type ProvisionResult } from '../../../shared/jobs.js';
import { MemoryDirectory } from '../../helpers/memory-directory.js';
import { startSyncHarness, type SyncHarness } from '../../helpers/sync-harness.js';
import { DOMAIN, Graph, startEmulator } from '../entra/helpers.js';

const PHOTO = Buffer.from('\xff\xd8\xff\xe0 a tiny jpeg', 'binary');

describe('provisioning both ways and incremental pulls, with Entra', () => {
  let em: EntraEmulator;
  let dir: MemoryDirectory;
  let s: SyncHarness;

  beforeEach(async () => {
    em = await startEmulator();
    dir = new MemoryDirectory([
      { id: 'a1', username: 'alice', email: 'alice@example.com', firstName: 'Alice', lastName: 'App', active: true },
      { id: 'b1', username: 'bob', email: 'bob@example.com', active: true },
    ]);
    s = await startSyncHarness({ ...entraEnv(em.info), SYNC_DELETE_THRESHOLD_PERCENT: '100' }, dir);
  });

  afterEach(async () => {
    await s.close();
    await em.close();
  });

  it('provisions application users to Entra, imports an Entra user with its photo, and counts users', async () => {
    const toTarget = (await s.run(JOB_NAMES.provision, { scope: 'all', targets: ['entra'], direction: 'to-target' })) as ProvisionResult;
    expect(toTarget.targets.entra).toMatchObject({ users: 2, succeeded: 2, failed: 0 });
    expect((await s.connectors.entra!.readUser(`alice@${DOMAIN}`))?.firstName).toBe('Alice');

    em.seed({ users: [{ userPrincipalName: `erin@${DOMAIN}`, displayName: 'Erin E', givenName: 'Erin', mail: 'erin@example.com', photo: { contentType: 'image/jpeg', data: PHOTO } }] });
    const fromTarget = (await s.run(JOB_NAMES.provision, { scope: { remoteIds: [`erin@${DOMAIN}`] }, targets: ['entra'], direction: 'from-target' })) as ProvisionResult;
    expect(fromTarget.targets.entra).toMatchObject({ users: 1, succeeded: 1 });
    const erin = [...dir.users.values()].find((u) => u.username === 'erin')!;
    expect(erin).toMatchObject({ email: 'erin@example.com', firstName: 'Erin', displayName: 'Erin E' });
    expect(dir.photos.get(erin.id)?.data.equals(PHOTO)).toBe(true);
  });

  it('an incremental pull applies what Entra owns, skips echoes of idsync\'s own writes, and puts back app-owned edits', async () => {
    await s.fullSync('entra', 'apply');
    const first = (await s.run(JOB_NAMES.pullChanges, { targets: ['entra'] })) as { targets: { changes: number; appUpdates: number; reverted: number }[] };
    expect(first.targets[0]).toMatchObject({ appUpdates: 0, reverted: 0 });
    const second = (await s.run(JOB_NAMES.pullChanges, { targets: ['entra'] })) as { targets: { changes: number; echoes: number }[] };
    expect(second.targets[0]!.changes).toBe(0);

    // Someone edits an app-owned attribute in Entra behind idsync's back: the next pull puts it back.
    const alice = await s.connectors.entra!.readUser(`alice@${DOMAIN}`);
    expect((await new Graph(em).call('PATCH', `/users/${alice!.remoteId}`, { givenName: 'Mallory' })).status).toBe(204);
    const third = (await s.run(JOB_NAMES.pullChanges, { targets: ['entra'] })) as { targets: { reverted: number }[] };
    expect(third.targets[0]!.reverted).toBe(1);
    expect((await s.connectors.entra!.readUser(`alice@${DOMAIN}`))?.firstName).toBe('Alice');
    expect(dir.users.get('a1')?.firstName).toBe('Alice');
  });

  it('two full syncs of one target never overlap: the second waits for the first', async () => {
    const [a, b] = await Promise.all([s.fullSync('entra', 'apply'), s.fullSync('entra', 'apply')]);
    const plans = [a, b].sort((x, y) => x.createdAt - y.createdAt);
    expect(plans[1]!.createdAt).toBeGreaterThanOrEqual(plans[0]!.apply?.finishedAt ?? plans[0]!.updatedAt);
    expect(plans[1]!.counts.create).toBe(0);
  });
});

describe('incremental pulls with Crowd (changed since the last complete round)', () => {
  it('takes what Crowd owns from users changed since the full sync, and nothing else', async () => {
    const em = await startCrowd();
    const dir = new MemoryDirectory([{ id: 'a1', username: 'alice', email: 'alice@example.com', firstName: 'Alice', lastName: 'Old', active: true }]);
    const s = await startSyncHarness({ ...crowdEnv(em.info), SYNC_AUTHORITY_CROWD: '{"lastName":"target"}' }, dir);
    try {
      await s.fullSync('crowd', 'apply');
      // Users the full sync itself wrote come back (they changed after it started), and nothing is
      // done with them; seen again within the clock-skew overlap, they are echoes.
      const first = (await s.run(JOB_NAMES.pullChanges, { targets: ['crowd'] })) as { targets: { appUpdates: number; reverted: number }[] };
      expect(first.targets[0]).toMatchObject({ appUpdates: 0, reverted: 0 });
      const again = (await s.run(JOB_NAMES.pullChanges, { targets: ['crowd'] })) as { targets: { changes: number; echoes: number }[] };
      expect(again.targets[0]!.echoes).toBe(again.targets[0]!.changes);

      const rest = new CrowdRest(em);
      const cur = (await rest.call('GET', 'user?username=alice')).json;
      const put = await rest.call('PUT', 'user?username=alice', { name: 'alice', 'first-name': 'Mallory', 'last-name': 'New', email: cur.email, active: true });
      expect(put.status).toBe(204);
      const pulled = (await s.run(JOB_NAMES.pullChanges, { targets: ['crowd'] })) as { targets: { changes: number; appUpdates: number; reverted: number }[] };
      expect(pulled.targets[0]).toMatchObject({ changes: 1, appUpdates: 1, reverted: 1 });
      // Crowd owns the last name: the app takes it. The app owns the first name: Crowd gets it back.
      expect(dir.users.get('a1')).toMatchObject({ firstName: 'Alice', lastName: 'New' });
      expect((await s.connectors.crowd!.readUser('alice'))).toMatchObject({ firstName: 'Alice', lastName: 'New' });
    } finally {
      await s.close();
      await em.close();
    }
  });
  it('reads through Crowd\'s event feed once it has a token: only what changed, echoes suppressed; an expired token re-reads all, a server without the feed falls back to updatedDate', async () => {
    const em = await startCrowd();
    const dir = new MemoryDirectory([
      { id: 'a1', username: 'alice', email: 'alice@example.com', firstName: 'Alice', lastName: 'Old', active: true },
      { id: 'b1', username: 'bob', email: 'bob@example.com', firstName: 'Bob', lastName: 'B', active: true },
    ]);
    const s = await startSyncHarness({ ...crowdEnv(em.info), SYNC_AUTHORITY_CROWD: '{"lastName":"target"}' }, dir);
    type Pulled = { targets: { changes: number; echoes: number; appUpdates: number; reverted: number }[] };
    const pull = async () => ((await s.run(JOB_NAMES.pullChanges, { targets: ['crowd'] })) as Pulled).targets[0]!;
    const rest = new CrowdRest(em);
    const editLastName = async (name: string, lastName: string) => {
      const cur = (await rest.call('GET', `user?username=${name}`)).json;
      expect((await rest.call('PUT', `user?username=${name}`, { name, 'first-name': cur['first-name'], 'last-name': lastName, email: cur.email, active: true })).status).toBe(204);
    };
    try {
      await s.fullSync('crowd', 'apply');
      await pull();
      // The full sync's own writes, seen again through the feed, are echoes.
      const quiet = await pull();
      expect(quiet.echoes).toBe(quiet.changes);
      expect(quiet.appUpdates).toBe(0);

      await editLastName('alice', 'Feed');
      let before = em.stats().byRoute;
      expect(await pull()).toMatchObject({ changes: 1, appUpdates: 1, reverted: 0 });
      expect(dir.users.get('a1')?.lastName).toBe('Feed');
      expect(before['GET search'] ?? 0).toBe(em.stats().byRoute['GET search'] ?? 0);

      // Tokens expire: every user is read again, nothing is missed.
      await editLastName('bob', 'Expired');
      em.expireEventTokens();
      expect(await pull()).toMatchObject({ changes: 2, appUpdates: 1 });
      expect(dir.users.get('b1')?.lastName).toBe('Expired');

      // Incremental synchronisation switched off on the server: users updated since the bookmark.
      em.setFaults({ incrementalSync: false });
      await editLastName('alice', 'Dated');
      before = em.stats().byRoute;
      expect(await pull()).toMatchObject({ appUpdates: 1 });
      expect(em.stats().byRoute['GET search']).toBeGreaterThan(before['GET search'] ?? 0);
      expect(dir.users.get('a1')?.lastName).toBe('Dated');
      // A completed full sync moves the bookmark; what is seen again within the clock-skew overlap is an echo.
      const plan = await s.fullSync('crowd', 'apply');
      expect(Number(await s.redis.get(`${s.prefix}:sync:since:crowd`))).toBe(plan.createdAt);
      const after = await pull();
      expect(after).toMatchObject({ appUpdates: 0, reverted: 0 });
      expect(after.echoes).toBe(after.changes);
    } finally {
      await s.close();
      await em.close();
    }
  });
});
