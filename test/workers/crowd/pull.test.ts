// Pull: one user with groups and roles (refresh and pull jobs), all users over search pages,
// and incremental pulls by updatedDate.
import { Queue } from 'bullmq';
import type { CrowdEmulator } from '../../../emulators/crowd/index.js';
import { collect } from '../../helpers/collect.js';
import type { RemoteChange } from '../../../workers/runtime/connector.js';
import { CrowdRest, routeDelta, setup, startEmulator, type Setup } from './helpers.js';

const roleMap = { 'crowd-administrators': 'admin', 'jira-administrators': 'admin', 'team-leads': 'editor' };

describe('Crowd worker: pull', () => {
  let em: CrowdEmulator;
  let s: Setup | undefined;
  beforeAll(async () => {
    em = await startEmulator();
  });
  afterEach(async () => {
    await s?.close();
    s = undefined;
    em.reset();
  });
  afterAll(() => em.close());

  const seedAlice = () =>
    em.seed(
      [{
        name: 'Alice', email: 'alice@example.com', firstName: 'Alice', lastName: 'Liddell', externalId: 'a-1',
        attributes: { department: ['Sales'], skills: ['ts', 'sql'], requiresPasswordChange: ['false'] },
        groups: ['team-leads', 'jira-administrators'],
      }],
      // team-leads sits inside crowd-administrators: Alice is a nested member of it.
      [{ name: 'crowd-administrators', childGroups: ['team-leads'] }, { name: 'unmapped' }],
    );

  it('refresh answers with the user mapped back: attributes, direct groups, roles from nested groups (many-to-one)', async () => {
    s = await setup(em, { roleMap });
    seedAlice();
    const remote = await s.h.client.refresh({ id: 'u-1', username: 'alice' }, { target: 'crowd' });
    expect(remote).toEqual({
      target: 'crowd',
      remoteId: '32769:a-1',
      username: 'Alice',
      email: 'alice@example.com',
      firstName: 'Alice',
      lastName: 'Liddell',
      displayName: 'Alice Liddell',
      active: true,
      groups: ['jira-administrators', 'team-leads'],
      roles: ['admin', 'editor'],
      // Crowd's own bookkeeping attributes (requiresPasswordChange) are not the app's.
      attributes: { department: 'Sales', skills: ['ts', 'sql'] },
    });
    // The link now knows the key, so a later push finds the user even after a rename in Crowd.
    expect(await s.h.links.get('crowd', 'u-1')).toMatchObject({ remoteId: '32769:a-1', remoteName: 'Alice' });
  });

  it('refresh answers null for a user Crowd does not have', async () => {
    s = await setup(em);
    expect(await s.h.client.refresh({ id: 'u-9', username: 'nobody' }, { target: 'crowd' })).toBeNull();
  });

  it('pull hands the mapped user to the app queue', async () => {
    s = await setup(em, { roleMap });
    seedAlice();
    const [job] = await s.h.client.pull({ id: 'u-1', username: 'alice' });
    await s.h.finished(job!.jobId);
    const app = new Queue('app', { connection: s.h.redis, prefix: s.h.prefix });
    const [applied] = await app.getWaiting();
    expect(applied!.data).toMatchObject({ appUserId: 'u-1', source: 'crowd', remote: { username: 'Alice', roles: ['admin', 'editor'] } });
    await app.close();
  });

  it('listUsers walks every search page in name order, once per user', async () => {
    s = await setup(em);
    em.seed(Array.from({ length: 25 }, (_, i) => ({ name: `user${String(i).padStart(2, '0')}`, email: `u${i}@example.com` })));
    const before = em.stats().byRoute;
    const users = await collect(s.connector.listUsers({ pageSize: 10 }));
    expect(users.map((u) => u.username)).toEqual(Array.from({ length: 25 }, (_, i) => `user${String(i).padStart(2, '0')}`));
    expect(users[0]).toMatchObject({ target: 'crowd', email: 'u0@example.com', active: true, remoteId: expect.stringMatching(/^32769:/) });
    expect(routeDelta(em, before)).toEqual({ 'GET search': 3 });

    // Exactly full pages end with one empty page; with groups, each user brings its roles.
    const all = await collect(s.connector.listUsers({ pageSize: 5, attributes: true, groups: true }));
    expect(all).toHaveLength(25);
    expect(all[0]).toMatchObject({ groups: [], roles: [] });
  });

  it('listUsersChangedSince returns only users updated at or after the date', async () => {
    s = await setup(em);
    const since = new Date('2024-05-01T10:00:00.000Z');
    em.seed([
      { name: 'ancient', email: 'ancient@example.com', updatedDate: '2024-04-01T00:00:00Z' },
      { name: 'old', email: 'old@example.com', updatedDate: '2024-05-01T09:59:59.999Z' },
      { name: 'exact', email: 'exact@example.com', updatedDate: since.getTime() },
      { name: 'newer', email: 'newer@example.com', updatedDate: '2024-06-01T00:00:00Z' },
    ]);
    const changed = await collect(s.connector.listUsersChangedSince(since));
    expect(changed.map((u) => u.username)).toEqual(['exact', 'newer']);
    const withOverlap = await collect(s.connector.listUsersChangedSince(since, { overlapMs: 60_000 }));
    expect(withOverlap.map((u) => u.username)).toEqual(['exact', 'newer', 'old']);
  });
  describe('listChanges through the event feed (GET /event, /event/{token})', () => {
    const rest = () => new CrowdRest(em);
    const names = (changes: RemoteChange[]) => changes.map((c) => (c.type === 'upsert' ? c.user.username : `(${c.type}${c.type === 'resync' ? `:${c.reason}` : ''})`));

    it('first round reads by updatedDate and takes a token; later rounds read only what the events name, membership-only changes included', async () => {
      s = await setup(em);
      em.seed([{ name: 'alice', email: 'alice@example.com' }, { name: 'bob', email: 'bob@example.com' }], [{ name: 'crew' }]);
      const since = new Date(Date.now() + 60_000);
      let before = em.stats().byRoute;
      expect(names(await collect(s.connector.listChanges({ since })))).toEqual([]);
      expect(routeDelta(em, before)).toEqual({ 'GET event': 1, 'GET search': 1 });

      // A membership change does not touch updatedDate; the feed names the user anyway.
      expect((await rest().call('POST', 'user/group/direct?username=bob', { name: 'crew' })).status).toBe(201);
      before = em.stats().byRoute;
      expect(names(await collect(s.connector.listChanges({ since })))).toEqual(['bob']);
      expect(routeDelta(em, before)).toEqual({ 'GET event/{token}': 1, 'GET user': 1 });
      // The token moved on: nothing new, nothing read.
      before = em.stats().byRoute;
      expect(names(await collect(s.connector.listChanges({ since })))).toEqual([]);
      expect(routeDelta(em, before)).toEqual({ 'GET event/{token}': 1 });

      // A deleted user is left to full syncs; a user renamed after an update is read under its new name.
      await rest().call('PUT', 'user?username=alice', { name: 'alice', 'first-name': 'Al', 'last-name': 'Ice', email: 'alice@example.com', active: true });
      await rest().call('POST', 'user/rename?username=alice', { 'new-name': 'alicia' });
      await rest().call('DELETE', 'user?username=bob');
      expect(names(await collect(s.connector.listChanges({ since })))).toEqual(['alicia']);
    });

    it('an expired token re-reads every user after a resync, then the feed takes over again', async () => {
      s = await setup(em);
      em.seed([{ name: 'alice', email: 'alice@example.com' }, { name: 'bob', email: 'bob@example.com' }], [{ name: 'crew' }]);
      const since = new Date(Date.now() + 60_000);
      await collect(s.connector.listChanges({ since }));
      // Missed while the token expires: a membership change updatedDate cannot show.
      await rest().call('POST', 'user/group/direct?username=alice', { name: 'crew' });
      em.expireEventTokens();
      expect(names(await collect(s.connector.listChanges({ since })))).toEqual(['(resync:expired)', 'alice', 'bob']);
      await rest().call('POST', 'user/group/direct?username=bob', { name: 'crew' });
      const before = em.stats().byRoute;
      expect(names(await collect(s.connector.listChanges({ since })))).toEqual(['bob']);
      expect(routeDelta(em, before)).toEqual({ 'GET event/{token}': 1, 'GET user': 1 });
    });

    it('a server without incremental synchronisation (400 INCREMENTAL_SYNC_NOT_AVAILABLE) is read by updatedDate, every round', async () => {
      s = await setup(em);
      em.seed([{ name: 'alice', email: 'alice@example.com', updatedDate: '2024-04-01T00:00:00Z' }, { name: 'bob', email: 'bob@example.com' }]);
      await collect(s.connector.listChanges({ since: new Date('2024-05-01T00:00:00Z') }));
      em.setFaults({ incrementalSync: false });
      const before = em.stats().byRoute;
      expect(names(await collect(s.connector.listChanges({ since: new Date('2024-05-01T00:00:00Z') })))).toEqual(['bob']);
      expect(routeDelta(em, before)).toEqual({ 'GET event/{token}': 1, 'GET event': 1, 'GET search': 1 });
      // No token is kept, so the next round asks once and reads by date again.
      const again = em.stats().byRoute;
      expect(names(await collect(s.connector.listChanges({ since: new Date('2024-05-01T00:00:00Z') })))).toEqual(['bob']);
      expect(routeDelta(em, again)).toEqual({ 'GET event': 1, 'GET search': 1 });
      // Without a bookmark, every user after a resync.
      expect(names(await collect(s.connector.listChanges({ since: undefined })))).toEqual(['(resync:initial)', 'alice', 'bob']);
    });
  });
});
