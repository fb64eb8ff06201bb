// Pull: one user (refresh / pull jobs through the queue, with groups and photo), every user
// (paged listing), and delta rounds with their stored deltaLink, expiry and reset.
import { createHash } from 'node:crypto';
import { Queue } from 'bullmq';
import type { EntraEmulator } from '../../../emulators/entra/index.js';
import type { DeltaChange } from '../../../workers/entra/index.js';
import { collect } from '../../helpers/collect.js';
import { DOMAIN, Graph, setup, startEmulator, statsDelta, type Setup } from './helpers.js';

const upn = (name: string) => `${name}@${DOMAIN}`;
/** A JPEG start-of-image marker and some bytes: enough for Graph's photo endpoints. */
const jpeg = (fill: number) => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(64, fill)]);
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('Entra worker: pull', () => {
  let em: EntraEmulator;
  let graph: Graph;
  let s: Setup | undefined;
  beforeAll(async () => {
    em = await startEmulator();
    graph = new Graph(em);
  });
  afterEach(async () => {
    await s?.close();
    s = undefined;
    em.reset();
  });
  afterAll(() => em.close());

  it('refresh returns the user with its groups and photo; the photo bytes travel only when their hash changed', async () => {
    s = await setup(em);
    const { userIds } = em.seed({
      users: [{ userPrincipalName: upn('erin'), displayName: 'Erin Doe', givenName: 'Erin', surname: 'Doe', mail: 'erin@example.com', department: 'Ops', photo: { contentType: 'image/jpeg', data: jpeg(1) } }],
    });
    em.seed({ groups: [{ displayName: 'Ops team', members: [upn('erin')] }] });
    const first = await s.h.client.refresh({ id: 'u-7', username: 'erin' }, { target: 'entra' });
    expect(first).toMatchObject({
      target: 'entra', remoteId: userIds[0], username: upn('erin'), email: 'erin@example.com', firstName: 'Erin', lastName: 'Doe', active: true,
      groups: ['Ops team'], attributes: { department: 'Ops' },
      photo: { hash: sha256(jpeg(1)), contentType: 'image/jpeg', data: jpeg(1).toString('base64') },
    });
    expect(await s.h.links.get('entra', 'u-7')).toMatchObject({ remoteId: userIds[0], remoteName: upn('erin') });

    const unchanged = await s.h.client.refresh({ id: 'u-7' }, { target: 'entra' });
    expect(unchanged!.photo).toEqual({ hash: sha256(jpeg(1)), contentType: 'image/jpeg' });

    expect((await graph.call('PUT', `/users/${userIds[0]}/photo/$value`, jpeg(2))).status).toBe(200);
    const changed = await s.h.client.refresh({ id: 'u-7' }, { target: 'entra' });
    expect(changed!.photo).toEqual({ hash: sha256(jpeg(2)), contentType: 'image/jpeg', data: jpeg(2).toString('base64') });

    expect((await graph.call('DELETE', `/users/${userIds[0]}/photo`)).status).toBe(204);
    expect((await s.h.client.refresh({ id: 'u-7' }, { target: 'entra' }))!.photo).toBeNull();
    expect(await s.h.client.refresh({ id: 'u-8', username: 'nobody' }, { target: 'entra' })).toBeNull();
  });

  it('a pull job hands the user, photo included, to the application queue', async () => {
    s = await setup(em);
    em.seed({ users: [{ userPrincipalName: upn('finn'), displayName: 'Finn', photo: { contentType: 'image/jpeg', data: jpeg(3) } }] });
    const app = new Queue('app', { connection: s.redis, prefix: s.h.prefix });
    try {
      const [job] = await s.h.client.pull({ id: 'u-9', username: 'finn' });
      await s.h.finished(job!.jobId);
      const [apply] = await app.getJobs(['waiting']);
      expect(apply!.data).toMatchObject({ appUserId: 'u-9', source: 'entra', remote: { username: upn('finn'), photo: { hash: sha256(jpeg(3)), data: jpeg(3).toString('base64') } } });
    } finally {
      await app.close();
    }
  });

  it('listUsers walks every page with $select and $top=999', async () => {
    s = await setup(em);
    em.seed({ generateUsers: { count: 2100 } });
    const before = em.stats();
    const users = await collect(s.connector.listUsers());
    expect(users).toHaveLength(2100);
    expect(new Set(users.map((u) => u.remoteId)).size).toBe(2100);
    expect(users[0]).toMatchObject({ target: 'entra', username: upn('user1'), email: upn('user1'), firstName: 'User', lastName: '1', active: true, attributes: { employeeId: '1' } });
    // 999 per page: three requests (Graph's default page of 100 would take 21).
    expect(statsDelta(em, before).graphRequests).toBe(3);
  });

  it('delta: round 1 is a full re-sync; later rounds bring only changes and removals; a user seen twice comes once', async () => {
    s = await setup(em);
    em.seed({ generateUsers: { count: 7 } });
    const { userIds } = em.seed({ users: [{ userPrincipalName: upn('gone'), displayName: 'Gone' }] });
    em.setFaults({ deltaDuplicates: true });
    const round1 = await collect(s.connector.listUsersDelta({ pageSize: 3 }));
    expect(round1[0]).toEqual({ type: 'resync', reason: 'initial' });
    const ids = round1.slice(1).map((c) => (c as Extract<DeltaChange, { type: 'upsert' }>).user.remoteId);
    expect(ids).toHaveLength(8);
    expect(new Set(ids).size).toBe(8);

    const all = await collect(s.connector.listUsers());
    const one = all.find((u) => u.username === upn('user3'))!;
    expect((await graph.call('PATCH', `/users/${one.remoteId}`, { jobTitle: 'Chief' })).status).toBe(204);
    expect((await graph.call('PATCH', `/users/${one.remoteId}`, { department: 'Board' })).status).toBe(204);
    expect((await graph.call('DELETE', `/users/${userIds[0]}`)).status).toBe(204);
    const round2 = await collect(s.connector.listUsersDelta());
    expect(round2).toEqual([
      { type: 'upsert', user: expect.objectContaining({ remoteId: one.remoteId, attributes: expect.objectContaining({ jobTitle: 'Chief', department: 'Board' }) }) },
      { type: 'removed', remoteId: userIds[0], reason: 'changed' },
    ]);
    expect((await graph.call('DELETE', `/directory/deletedItems/${userIds[0]}`)).status).toBe(204);
    expect(await collect(s.connector.listUsersDelta())).toEqual([{ type: 'removed', remoteId: userIds[0], reason: 'deleted' }]);
    expect(await collect(s.connector.listUsersDelta())).toEqual([]);
  });

  it('delta: a user repeated on a later page with newer values comes once, as last seen', async () => {
    s = await setup(em);
    em.seed({ generateUsers: { count: 7 } });
    // The user each page repeats was edited while the round was paging: the repeat is newer.
    em.setFaults({ deltaDuplicates: true });
    em.setDeltaRepeatEdits({ jobTitle: 'Edited mid-round', department: 'Moved' });
    const round1 = await collect(s.connector.listUsersDelta({ pageSize: 3 }));
    const users = round1.slice(1).map((c) => (c as Extract<DeltaChange, { type: 'upsert' }>).user);
    expect(users).toHaveLength(7);
    expect(new Set(users.map((u) => u.remoteId)).size).toBe(7);
    // Pages: user1-3, user3(again)-5, user5(again)-7. Each repeat is handed over once, in
    // its later, newer copy; the rest as they were.
    const byName = new Map(users.map((u) => [u.username, u]));
    for (const n of [3, 5]) expect(byName.get(upn(`user${n}`))!.attributes).toMatchObject({ jobTitle: 'Edited mid-round', department: 'Moved' });
    for (const n of [1, 2, 4, 6, 7]) expect(byName.get(upn(`user${n}`))!.attributes?.jobTitle).toBeUndefined();
    // The edits were real changes: the next round brings exactly those two users.
    em.setDeltaRepeatEdits(undefined);
    const round2 = await collect(s.connector.listUsersDelta());
    expect(round2.map((c) => (c as Extract<DeltaChange, { type: 'upsert' }>).user.username).sort()).toEqual([upn('user3'), upn('user5')]);
  });

  it('stores the deltaLink only after the consumer took the whole round', async () => {
    s = await setup(em);
    em.seed({ generateUsers: { count: 5 } });
    const key = `${s.prefix}:delta:entra`;
    for await (const change of s.connector.listUsersDelta({ pageSize: 2 })) if (change.type === 'upsert') break;
    expect(await s.redis.get(key)).toBeNull();
    expect(await collect(s.connector.listUsersDelta({ pageSize: 2 }))).toHaveLength(6);
    const stored = JSON.parse((await s.redis.get(key))!) as { link: string };
    expect(stored.link).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/v1\.0\/users\/delta\?\$deltatoken=/);

    em.seed({ generateUsers: { count: 2, startIndex: 100 } });
    for await (const change of s.connector.listUsersDelta()) if (change.type === 'upsert') break;
    expect(JSON.parse((await s.redis.get(key))!).link).toBe(stored.link);
    // Not lost: the next round brings both again.
    expect((await collect(s.connector.listUsersDelta())).map((c) => c.type)).toEqual(['upsert', 'upsert']);
  });

  it('an expired delta token (syncStateNotFound) or a reset (410) brings a full, verified re-sync', async () => {
    s = await setup(em);
    em.seed({ generateUsers: { count: 4 } });
    await collect(s.connector.listUsersDelta());
    expect(await collect(s.connector.listUsersDelta())).toEqual([]);

    em.expireDeltaTokens();
    const expired = await collect(s.connector.listUsersDelta());
    expect(expired[0]).toEqual({ type: 'resync', reason: 'expired' });
    expect(expired.slice(1).map((c) => c.type)).toEqual(['upsert', 'upsert', 'upsert', 'upsert']);
    expect(await collect(s.connector.listUsersDelta())).toEqual([]);

    em.forceDeltaReset();
    const reset = await collect(s.connector.listUsersDelta());
    expect(reset[0]).toEqual({ type: 'resync', reason: 'reset' });
    expect(reset).toHaveLength(5);
    expect(em.stats().byStatus).toMatchObject({ '400': 1, '410': 1 });
  });
});
