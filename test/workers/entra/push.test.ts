// Push: client library → Redis → Entra worker (real connector) → emulator, checked through
// Graph itself. One emulator for the file, reset between tests.
import { fileURLToPath } from 'node:url';
import { SYNC_WORKER_ROLES, type EntraEmulator } from '../../../emulators/entra/index.js';
import { context } from '../../helpers/context.js';
import { runJobs } from '../../helpers/harness.js';
import { DOMAIN, Graph, setup, startEmulator, statsDelta, type Setup } from './helpers.js';
import { GraphProxy } from './proxy.js';

const alice = { id: 'u-1', username: 'alice', email: 'alice@example.com', firstName: 'Alice', lastName: 'Liddell' };
const upn = (name: string) => `${name}@${DOMAIN}`;

describe('Entra worker: push', () => {
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

  it('creates a user with the required properties in one $batch write, and links it by object id', async () => {
    s = await setup(em);
    const before = em.stats();
    const result = await s.h.push({ ...alice, attributes: { department: 'Sales', employeeId: 'E-1', notAGraphProperty: 'x' } });
    expect(result).toMatchObject({ outcome: 'applied', operation: 'create' });
    expect(statsDelta(em, before)).toMatchObject({ writes: 1, batchRequests: 1, batchItems: 1 });
    const user = await graph.user(upn('alice'));
    expect(user).toMatchObject({
      userPrincipalName: upn('alice'), mailNickname: 'alice', displayName: 'Alice Liddell', givenName: 'Alice', surname: 'Liddell',
      mail: 'alice@example.com', accountEnabled: true, department: 'Sales', employeeId: 'E-1',
    });
    expect(await s.h.links.get('entra', 'u-1')).toMatchObject({ remoteId: user!.id, remoteName: upn('alice'), writtenHash: expect.any(String) });
  });

  it('PATCHes only the changed attributes, and writes nothing when Graph already matches', async () => {
    const proxy = await GraphProxy.start(em);
    try {
      s = await setup(em, { graphBaseUrl: proxy.graphBaseUrl });
      await s.h.push({ ...alice, attributes: { department: 'Sales' } });
      const id = (await graph.user(upn('alice')))!.id;
      const sent = proxy.batchItems().length;
      // displayName null: the default follows the names (omitted would keep Graph's).
      await expect(s.h.push({ ...alice, firstName: 'Alicia', displayName: null, attributes: { department: 'Sales' } })).resolves.toMatchObject({ operation: 'update', changedAttributes: ['displayName', 'firstName'] });
      // The one write is a PATCH of exactly the two properties that differ.
      expect(proxy.batchItems().slice(sent)).toEqual([
        { id: '1', method: 'PATCH', url: `/users/${id}`, headers: { 'Content-Type': 'application/json' }, body: { displayName: 'Alicia Liddell', givenName: 'Alicia' } },
      ]);
      expect(await graph.user(id)).toMatchObject({ givenName: 'Alicia', displayName: 'Alicia Liddell', surname: 'Liddell', department: 'Sales' });

      const before = em.stats();
      await expect(s.h.push({ ...alice, firstName: 'Alicia', attributes: { department: 'Sales' } })).resolves.toMatchObject({ operation: 'noop', changedAttributes: [] });
      expect(statsDelta(em, before)).toEqual({ graphRequests: 1 });
      expect(proxy.requests.at(-1)).toMatchObject({ method: 'GET', url: expect.stringMatching(new RegExp(`^/v1.0/users/${id}\\?\\$select=`)) });
    } finally {
      await s?.close();
      s = undefined;
      await proxy.close();
    }
  });

  it('disables on delete by default, and enables again on the next upsert', async () => {
    s = await setup(em);
    await s.h.push(alice);
    const [del] = await s.h.client.userDeleted({ id: 'u-1', username: 'alice' });
    await expect(s.h.finished(del!.jobId)).resolves.toMatchObject({ operation: 'disable' });
    expect(await graph.user(upn('alice'))).toMatchObject({ accountEnabled: false, givenName: 'Alice' });
    expect(await s.h.links.get('entra', 'u-1')).toMatchObject({ remoteId: expect.any(String) });
    await expect(s.h.push(alice)).resolves.toMatchObject({ operation: 'restore', changedAttributes: ['active'] });
    expect((await graph.user(upn('alice')))!.accountEnabled).toBe(true);
  });

  it('soft-deletes with the delete policy; a missing user counts as done; an upsert restores the same object', async () => {
    s = await setup(em, { deletePolicy: 'delete' });
    await s.h.push(alice);
    const id = (await graph.user(upn('alice')))!.id as string;
    const [del] = await s.h.client.userDeleted({ id: 'u-1', username: 'alice' });
    await expect(s.h.finished(del!.jobId)).resolves.toMatchObject({ operation: 'delete' });
    expect(await graph.user(id)).toBeNull();
    expect(await graph.deleted(id)).toBe(true);
    const [again] = await s.h.client.userDeleted({ id: 'u-1', username: 'alice' });
    await expect(s.h.finished(again!.jobId)).resolves.toMatchObject({ outcome: 'applied', operation: 'noop' });
    const [stranger] = await s.h.client.userDeleted({ id: 'u-9', username: 'nobody' });
    await expect(s.h.finished(stranger!.jobId)).resolves.toMatchObject({ outcome: 'applied', operation: 'noop' });

    await expect(s.h.push({ ...alice, lastName: 'Pleasance' })).resolves.toMatchObject({ operation: 'restore', remoteId: id });
    expect(await graph.user(id)).toMatchObject({ userPrincipalName: upn('alice'), surname: 'Pleasance', accountEnabled: true });
    expect(await graph.deleted(id)).toBe(false);
    expect(em.stats()).toMatchObject({ users: 1, deletedUsers: 0 });
  });

  it('sets the password; a weak one fails permanently without the password in the reason', async () => {
    s = await setup(em);
    const h = s.h;
    await s.h.push(alice);
    const before = (await graph.user(upn('alice')))!.lastPasswordChangeDateTime;
    em.advanceClock(5000);
    const [ok] = await runJobs(h, () => h.client.passwordChanged({ id: 'u-1' }, 'C0rrect-Horse-Battery'));
    expect(ok).toMatchObject({ ok: true, value: { operation: 'password' } });
    expect((await graph.user(upn('alice')))!.lastPasswordChangeDateTime).not.toBe(before);

    const [weak] = await runJobs(h, () => h.client.passwordChanged({ id: 'u-1' }, 'weakpw'));
    expect(weak).toMatchObject({ ok: false });
    const reason = (weak as { error: Error }).error.message;
    expect(reason).toMatch(/Graph refused PATCH \/users\/[0-9a-f-]+ alice@\S+: Request_BadRequest — The specified password does not comply with password complexity requirements/);
    expect(reason).not.toContain('weakpw');
  });

  it('without the password permission and role, only the password job fails (readably); pushes keep flowing', async () => {
    const app = em.registerApp({ roles: [...SYNC_WORKER_ROLES], passwordAdministrator: false, displayName: 'no role' });
    s = await setup(em, { clientId: app.clientId, clientSecret: app.clientSecret! });
    const h = s.h;
    await s.h.push(alice);
    const [pw] = await runJobs(h, () => h.client.passwordChanged({ id: 'u-1' }, 'C0rrect-Horse-Battery'));
    expect(pw).toMatchObject({ ok: false });
    expect((pw as { error: Error }).error.message).toMatch(
      /Graph refused PATCH \/users\/\S+ alice@\S+: Authorization_RequestDenied — Insufficient privileges.*User-PasswordProfile\.ReadWrite\.All.*User Administrator directory role/,
    );
    expect(await h.worker.quarantine.state()).toBeUndefined();
    expect(await h.worker.queue.isPaused()).toBe(false);
    await expect(s.h.push({ ...alice, lastName: 'Pleasance' })).resolves.toMatchObject({ operation: 'update' });
    expect((await graph.user(upn('alice')))!.surname).toBe('Pleasance');
  });

  it('makes the direct groups equal to the snapshot, sending only the difference; dynamic groups are left alone', async () => {
    s = await setup(em);
    em.seed({ groups: ['a', 'b', 'c', 'd'].map((displayName) => ({ displayName })) });
    const before = em.stats();
    await expect(s.h.push({ ...alice, groups: ['a', 'b', 'c'] })).resolves.toMatchObject({ operation: 'create', changedAttributes: expect.arrayContaining(['groups']) });
    expect(statsDelta(em, before)).toMatchObject({ writes: 4 });
    const id = (await graph.user(upn('alice')))!.id as string;
    em.seed({ groups: [{ displayName: 'All staff (dynamic)', groupTypes: ['DynamicMembership'], members: [id] }] });
    expect(await graph.groupsOf(id)).toEqual(['All staff (dynamic)', 'a', 'b', 'c']);

    const update = em.stats();
    await expect(s.h.push({ ...alice, groups: ['B', 'c', 'd'] })).resolves.toMatchObject({ operation: 'update', changedAttributes: ['groups'] });
    expect(statsDelta(em, update)).toMatchObject({ writes: 2, batchItems: 2 });
    expect(await graph.groupsOf(id)).toEqual(['All staff (dynamic)', 'b', 'c', 'd']);

    const same = em.stats();
    await expect(s.h.push({ ...alice, groups: ['b', 'C', 'd'] })).resolves.toMatchObject({ operation: 'noop' });
    expect(statsDelta(em, same).writes).toBeUndefined();

    const err = await s.h.push({ ...alice, groups: ['b', 'no-such-group'] }).catch((e: Error) => e);
    expect(String(err)).toMatch(/Entra has no group "no-such-group" for user alice@\S+; idsync does not create groups/);
    expect(await graph.groupsOf(id)).toEqual(['All staff (dynamic)', 'b']);
  });

  it('is idempotent: the same snapshot twice, even without a link, leaves the same state', async () => {
    s = await setup(em);
    em.seed({ groups: [{ displayName: 'staff' }] });
    const snapshot = { ...alice, active: true, version: 1, groups: ['staff'], attributes: { department: 'Sales' } };
    const first = await s.connector.upsertUser(snapshot, context());
    const state = await graph.user(upn('alice'));
    // A redelivery that lost the link (the worker died before saving it): the create meets
    // ObjectConflict, the user is looked up and found equal.
    const second = await s.connector.upsertUser(snapshot, context());
    expect(second).toMatchObject({ operation: 'noop', remoteId: first.remoteId, writtenHash: first.writtenHash });
    expect(await graph.user(upn('alice'))).toEqual(state);
    expect(await graph.groupsOf(first.remoteId!)).toEqual(['staff']);
    // Through the queue: a second event with the same content writes nothing.
    await s.h.push(alice);
    const queued = em.stats();
    await expect(s.h.push(alice)).resolves.toMatchObject({ operation: 'noop' });
    expect(statsDelta(em, queued).writes).toBeUndefined();
    expect(em.stats().users).toBe(1);
  });

  it('matches unlinked users by employeeId, and by onPremisesImmutableId (an advanced query); never guesses', async () => {
    s = await setup(em, { matchAttributes: ['employeeId', 'onPremisesImmutableId', 'userPrincipalName'] });
    const { userIds } = em.seed({
      users: [
        { userPrincipalName: upn('bob.smith'), displayName: 'Bob', employeeId: 'E-42' },
        { userPrincipalName: upn('carol.x'), displayName: 'Carol', onPremisesImmutableId: 'imm-7' },
        { userPrincipalName: upn('twin1'), employeeId: 'E-9' },
        { userPrincipalName: upn('twin2'), employeeId: 'E-9' },
      ],
    });
    await expect(s.h.push({ id: 'u-2', username: 'bob', email: 'bob@example.com', attributes: { employeeId: 'E-42' } }))
      .resolves.toMatchObject({ operation: 'rename', remoteId: userIds[0], changedAttributes: expect.arrayContaining(['username', 'email']) });
    expect(await graph.user(userIds[0]!)).toMatchObject({ userPrincipalName: upn('bob'), employeeId: 'E-42' });
    await expect(s.h.push({ id: 'u-3', username: 'carol.x', email: 'carol@example.com', attributes: { onPremisesImmutableId: 'imm-7' } }))
      .resolves.toMatchObject({ operation: 'update', remoteId: userIds[1] });
    const err = await s.h.push({ id: 'u-4', username: 'twin', email: 't@example.com', attributes: { employeeId: 'E-9' } }).catch((e: Error) => e);
    expect(String(err)).toMatch(/2 Entra users have employeeId "E-9" \(twin1@\S+, twin2@\S+\); idsync will not guess/);
    expect(em.stats().users).toBe(4);
  });

  it('skips users mastered on-premises with a readable reason, writing nothing', async () => {
    s = await setup(em);
    em.seed({ users: [{ userPrincipalName: upn('dave'), displayName: 'Dave', onPremisesSyncEnabled: true }] });
    const before = em.stats();
    const result = await s.h.push({ id: 'u-5', username: 'dave', email: 'dave@example.com', firstName: 'David' });
    expect(result).toMatchObject({ outcome: 'skipped', reason: expect.stringMatching(/dave@\S+ is mastered on-premises \(onPremisesSyncEnabled\).*change it in Active Directory/) });
    expect(statsDelta(em, before).writes).toBe(1); // the create-first POST that found the UPN taken
    expect(await graph.user(upn('dave'))).toMatchObject({ displayName: 'Dave', givenName: null });
    expect(await s.h.audit.query({ subject: 'u-5', status: 'skipped' })).toHaveLength(1);
    expect(await s.h.links.get('entra', 'u-5')).toMatchObject({ remoteName: upn('dave') });
  });

  it.each(['disable', 'delete'] as const)('leaves users mastered on-premises alone on delete too (%s policy), with a readable reason', async (deletePolicy) => {
    s = await setup(em, { deletePolicy });
    const { userIds } = em.seed({ users: [{ userPrincipalName: upn('dave'), displayName: 'Dave', onPremisesSyncEnabled: true }] });
    const before = em.stats();
    const [del] = await s.h.client.userDeleted({ id: 'u-5', username: 'dave' });
    await expect(s.h.finished(del!.jobId)).resolves.toMatchObject({
      outcome: 'skipped', operation: 'noop', remoteId: userIds[0],
      reason: expect.stringMatching(/dave@\S+ is mastered on-premises \(onPremisesSyncEnabled\).*change it in Active Directory/),
    });
    expect(statsDelta(em, before).writes).toBeUndefined();
    expect(await graph.user(userIds[0]!)).toMatchObject({ userPrincipalName: upn('dave'), accountEnabled: true });
    expect(await graph.deleted(userIds[0]!)).toBe(false);
    expect(await s.h.audit.query({ subject: 'u-5', status: 'skipped' })).toHaveLength(1);
    expect(await s.h.links.get('entra', 'u-5')).toMatchObject({ remoteId: userIds[0], remoteName: upn('dave') });
  });

  it('applies the mapping module: UPN rule, attribute map both ways, alter hook', async () => {
    const mappingModule = fileURLToPath(new URL('./fixtures/mapping.mjs', import.meta.url));
    s = await setup(em, { mappingModule });
    await s.h.push({ ...alice, attributes: { costCentre: 'CC-7', team: 'Blue', department: 'unmapped' } });
    const user = await graph.user(`alice.liddell@${DOMAIN}`);
    expect(user).toMatchObject({ department: 'CC-7', jobTitle: 'Synced by idsync', onPremisesExtensionAttributes: { extensionAttribute3: 'Blue' } });
    // A mapped attribute gone from the snapshot is cleared in Entra.
    await expect(s.h.push({ ...alice, attributes: { costCentre: 'CC-7' } })).resolves.toMatchObject({ changedAttributes: ['attributes.team'] });
    expect((await graph.user(user!.id))!.onPremisesExtensionAttributes?.extensionAttribute3).toBeNull();
    const pulled = await s.h.client.refresh({ id: 'u-1' }, { target: 'entra' });
    expect(pulled).toMatchObject({ username: `alice.liddell@${DOMAIN}`, attributes: { costCentre: 'CC-7', objectId: user!.id } });
  });
});
