// Push: client library → Redis → Crowd worker (real connector) → emulator, checked through
// Crowd's own REST API. One emulator for the file, reset between tests.
import { fileURLToPath } from 'node:url';
import type { CrowdEmulator } from '../../../emulators/crowd/index.js';
import { context } from '../../helpers/context.js';
import { runJobs } from '../../helpers/harness.js';
import { waitFor } from '../../helpers/wait.js';
import { CrowdRest, routeDelta, setup, startEmulator, type Setup } from './helpers.js';

const alice = { id: 'u-1', username: 'alice', email: 'alice@example.com', firstName: 'Alice', lastName: 'Liddell' };

describe('Crowd worker: push', () => {
  let em: CrowdEmulator;
  let rest: CrowdRest;
  let s: Setup | undefined;
  beforeAll(async () => {
    em = await startEmulator();
    rest = new CrowdRest(em);
  });
  afterEach(async () => {
    await s?.close();
    s = undefined;
    em.reset();
  });
  afterAll(() => em.close());

  it('creates a user with its profile and attributes in one request, and links it by key', async () => {
    s = await setup(em);
    const result = await s!.h.push({ ...alice, attributes: { department: 'Sales', skills: ['ts', 'sql'] } });
    expect(result).toMatchObject({ outcome: 'applied', operation: 'create' });
    expect(em.stats().byRoute).toEqual({ 'POST user': 1 });
    const remote = await rest.user('alice');
    expect(remote).toMatchObject({
      name: 'alice', email: 'alice@example.com', 'first-name': 'Alice', 'last-name': 'Liddell', 'display-name': 'Alice Liddell', active: true,
    });
    // Crowd keeps an attribute's values as a set, in no particular order.
    expect(remote!.attributes).toMatchObject({ department: ['Sales'], skills: expect.arrayContaining(['ts', 'sql']) });
    expect(remote!.attributes!.skills).toHaveLength(2);
    expect(await s.h.links.get('crowd', 'u-1')).toMatchObject({ remoteId: remote!.key, remoteName: 'alice', writtenHash: expect.any(String) });
    // The same snapshot again changes nothing, whatever order Crowd hands the values back in.
    await expect(s!.h.push({ ...alice, attributes: { department: 'Sales', skills: ['ts', 'sql'] } })).resolves.toMatchObject({ outcome: 'applied', operation: 'noop' });
    // One read by the test above, one by the worker; no write.
    expect(em.stats().byRoute).toEqual({ 'POST user': 1, 'GET user': 2 });
  });

  it('updates with a full-replace PUT, and sends nothing when the remote already matches', async () => {
    s = await setup(em);
    await s!.h.push(alice);
    const before = em.stats().byRoute;
    // displayName null: Crowd's rule makes it follow the names (omitted would keep Crowd's).
    const updated = await s!.h.push({ ...alice, firstName: 'Alicia', displayName: null });
    expect(updated).toMatchObject({ operation: 'update', changedAttributes: ['firstName', 'displayName'] });
    expect(routeDelta(em, before)).toEqual({ 'GET user': 1, 'PUT user': 1 });
    expect(await rest.user('alice')).toMatchObject({ 'first-name': 'Alicia', 'last-name': 'Liddell', 'display-name': 'Alicia Liddell', email: 'alice@example.com' });

    const again = em.stats().byRoute;
    await expect(s!.h.push({ ...alice, firstName: 'Alicia' })).resolves.toMatchObject({ operation: 'noop', changedAttributes: [] });
    expect(routeDelta(em, again)).toEqual({ 'GET user': 1 });
  });

  it('keeps Crowd fields the app does not manage (GET-merge-PUT, never a partial body)', async () => {
    s = await setup(em);
    em.seed([{ name: 'bob', firstName: 'Robert', lastName: 'Tables', displayName: 'Bobby Tables', email: 'bob@example.com', externalId: 'b-1' }]);
    await s!.h.push({ id: 'u-2', username: 'bob', email: 'bob@example.com', active: false });
    expect(await rest.user('bob')).toMatchObject({ 'first-name': 'Robert', 'last-name': 'Tables', 'display-name': 'Bobby Tables', active: false, key: '32769:b-1' });
  });

  it('renames with POST /user/rename: the key and the link survive', async () => {
    s = await setup(em);
    await s!.h.push(alice);
    const key = (await rest.user('alice'))!.key;
    const renamed = await s!.h.push({ ...alice, username: 'alice.liddell' });
    expect(renamed).toMatchObject({ operation: 'rename', changedAttributes: ['username'] });
    expect(await rest.user('alice')).toBeNull();
    expect((await rest.user('alice.liddell'))!.key).toBe(key);
    expect(await s.h.links.get('crowd', 'u-1')).toMatchObject({ remoteId: key, remoteName: 'alice.liddell' });
    expect(em.stats().users).toBe(1);
    // The link still leads to the user afterwards.
    await expect(s!.h.push({ ...alice, username: 'alice.liddell', lastName: 'L.' })).resolves.toMatchObject({ operation: 'update' });
    expect((await rest.user('alice.liddell'))!['last-name']).toBe('L.');
  });

  it('handles a Crowd user without a key (blank external id): linked and found by name, renamed, refreshed', async () => {
    s = await setup(em);
    em.seed([{ name: 'dora', email: 'dora@example.com', firstName: 'Dora', lastName: 'D', externalId: '' }]);
    expect((await rest.user('dora'))!.key).toBeNull();
    const dora = { id: 'u-4', username: 'dora', email: 'dora@example.com', firstName: 'Dora', lastName: 'D' };
    await expect(s!.h.push({ ...dora, lastName: 'Explorer' })).resolves.toMatchObject({ operation: 'update' });
    // Linked by the next best handle, its name, as a refresh does; later pushes do not ask Crowd for that as a key.
    expect(await s.h.links.get('crowd', 'u-4')).toMatchObject({ remoteId: 'dora', remoteName: 'dora' });
    expect(await s.h.client.refresh({ id: 'u-4', username: 'dora' }, { target: 'crowd' })).toMatchObject({ remoteId: 'dora', username: 'dora', lastName: 'Explorer' });
    const before = em.stats().byRoute;
    await expect(s!.h.push({ ...dora, username: 'dora.d', lastName: 'Explorer' })).resolves.toMatchObject({ operation: 'rename', remoteId: 'dora.d' });
    expect(routeDelta(em, before)).toEqual({ 'GET user': 1, 'POST user/rename': 1 });
    expect(await rest.user('dora.d')).toMatchObject({ key: null, 'last-name': 'Explorer' });
    // The handle follows the rename, so the old name no longer leads to this user.
    expect(await s.h.links.get('crowd', 'u-4')).toMatchObject({ remoteId: 'dora.d', remoteName: 'dora.d' });
    await expect(s!.h.push({ ...dora, username: 'dora.d', lastName: 'E.' })).resolves.toMatchObject({ operation: 'update' });
    expect(em.stats().users).toBe(1);
  });

  it('treats a case-only difference in the username as the same user', async () => {
    s = await setup(em);
    em.seed([{ name: 'Carol', email: 'carol@example.com', firstName: 'Carol', lastName: 'C' }]);
    await expect(s!.h.push({ id: 'u-3', username: 'carol', email: 'carol@example.com', firstName: 'Carol', lastName: 'C' })).resolves.toMatchObject({ operation: 'noop' });
    expect(await s.h.links.get('crowd', 'u-3')).toMatchObject({ remoteName: 'Carol' });
  });

  it('deactivates on delete by default, and restores on the next upsert', async () => {
    s = await setup(em);
    await s!.h.push(alice);
    const [del] = await s.h.client.userDeleted({ id: 'u-1', username: 'alice' });
    await expect(s.h.finished(del!.jobId)).resolves.toMatchObject({ operation: 'disable' });
    expect(await rest.user('alice')).toMatchObject({ active: false, email: 'alice@example.com', 'first-name': 'Alice' });
    expect(await s.h.links.get('crowd', 'u-1')).toBeDefined();
    await expect(s!.h.push(alice)).resolves.toMatchObject({ operation: 'restore', changedAttributes: ['active'] });
    expect((await rest.user('alice'))!.active).toBe(true);
  });

  it('deletes with the delete policy and drops the link; a missing user counts as done', async () => {
    s = await setup(em, { deletePolicy: 'delete' });
    await s!.h.push(alice);
    const [del] = await s.h.client.userDeleted({ id: 'u-1', username: 'alice' });
    await expect(s.h.finished(del!.jobId)).resolves.toMatchObject({ operation: 'delete' });
    expect(await rest.user('alice')).toBeNull();
    expect(await s.h.links.get('crowd', 'u-1')).toBeUndefined();
    const [again] = await s.h.client.userDeleted({ id: 'u-1', username: 'alice' });
    await expect(s.h.finished(again!.jobId)).resolves.toMatchObject({ outcome: 'applied', operation: 'noop' });
  });

  it('sets the password, which then authenticates; a password for a user not yet created waits for the push', async () => {
    s = await setup(em);
    const h = s.h;
    const pw = runJobs(h, () => h.client.passwordChanged({ id: 'u-1', username: 'alice' }, 'Tr0ub4dor&3'));
    // The password job ran first, found no Crowd user, and is waiting to retry.
    const retrying = await waitFor(async () => (await h.audit.query({ subject: 'u-1', status: 'retrying' }))[0]);
    expect(retrying.error).toMatch(/Crowd has no user alice yet/);
    await expect(s!.h.push(alice)).resolves.toMatchObject({ operation: 'create' });
    expect(await pw).toMatchObject([{ ok: true, value: { operation: 'password' } }]);
    expect(await rest.authenticate('alice', 'Tr0ub4dor&3')).toBe(200);
    expect(await rest.authenticate('alice', 'wrong')).toBe(400);

    const [next] = await runJobs(h, () => h.client.passwordChanged({ id: 'u-1' }, 'c0rrect-h0rse'));
    expect(next).toMatchObject({ ok: true });
    expect(await rest.authenticate('alice', 'c0rrect-h0rse')).toBe(200);
  });

  it('refuses a password Crowd\'s policy rejects with a readable reason that does not contain it', async () => {
    s = await setup(em);
    const h = s.h;
    await s!.h.push(alice);
    em.setFaults({ passwordMinLength: 12 });
    const [pw] = await runJobs(h, () => h.client.passwordChanged({ id: 'u-1' }, 'short-pw'));
    expect(pw).toMatchObject({ ok: false });
    const reason = (pw as { error: Error }).error.message;
    expect(reason).toMatch(/Crowd refused PUT \/user\/password alice: INVALID_CREDENTIAL/);
    expect(reason).not.toContain('short-pw');
  });

  it('makes the direct groups equal to the snapshot, sending only the difference', async () => {
    s = await setup(em);
    em.seed([], ['a', 'b', 'c', 'd', 'e'].map((name) => ({ name })));
    await expect(s!.h.push({ ...alice, groups: ['a', 'b', 'c'] })).resolves.toMatchObject({ operation: 'create', changedAttributes: expect.arrayContaining(['groups']) });
    expect(await rest.directGroups('alice')).toEqual(['a', 'b', 'c']);

    const before = em.stats().byRoute;
    await expect(s!.h.push({ ...alice, groups: ['B', 'c', 'd'] })).resolves.toMatchObject({ operation: 'update', changedAttributes: ['groups'] });
    expect(routeDelta(em, before)).toEqual({ 'GET user': 1, 'GET user/group/direct': 1, 'POST user/group/direct': 1, 'DELETE user/group/direct': 1 });
    expect(await rest.directGroups('alice')).toEqual(['b', 'c', 'd']);

    const again = em.stats().byRoute;
    await expect(s!.h.push({ ...alice, groups: ['b', 'C', 'd'] })).resolves.toMatchObject({ operation: 'noop' });
    expect(routeDelta(em, again)).toEqual({ 'GET user': 1, 'GET user/group/direct': 1 });
  });

  it('does not create a group Crowd lacks: applies the rest, then fails naming it', async () => {
    s = await setup(em);
    em.seed([], [{ name: 'staff' }]);
    const err = await s!.h.push({ ...alice, groups: ['staff', 'no-such-group'] }).catch((e: Error) => e);
    expect(String(err)).toMatch(/Crowd has no group "no-such-group" for user alice/);
    expect(await rest.directGroups('alice')).toEqual(['staff']);
    // The worker keeps going, and once the group exists a replay completes.
    await rest.createGroup('no-such-group');
    const failed = await s.h.job((await s.h.audit.query({ subject: 'u-1', status: 'failed' }))[0]!.jobId!);
    await failed.retry('failed');
    await s.h.finished(failed.id!);
    expect(await rest.directGroups('alice')).toEqual(['no-such-group', 'staff']);
  });

  it('reports Crowd\'s e-mail change block as a readable permanent failure, after applying the rest', async () => {
    s = await setup(em);
    await s!.h.push(alice);
    const err = await s!.h.push({ ...alice, email: 'alice@new.example.com', lastName: 'Pleasance' }).catch((e: Error) => e);
    expect(String(err)).toMatch(/Crowd refused PUT \/user alice: APPLICATION_PERMISSION_DENIED — External applications are not allowed to change user emails.*crowd\.email\.change\.by\.external\.apps/);
    expect((await s.h.audit.query({ subject: 'u-1', status: 'failed' }))).toHaveLength(1);
    expect(await rest.user('alice')).toMatchObject({ email: 'alice@example.com', 'last-name': 'Pleasance' });
  });

  it('changes the e-mail where Crowd allows applications to', async () => {
    const open = await startEmulator({ allowEmailChange: true });
    const local = await setup(open);
    try {
      const [a] = await local.h.client.userChanged(alice);
      await local.h.finished(a!.jobId);
      const [b] = await local.h.client.userChanged({ ...alice, email: 'alice@new.example.com' });
      await expect(local.h.finished(b!.jobId)).resolves.toMatchObject({ operation: 'update', changedAttributes: ['email'] });
      expect(await new CrowdRest(open).user('alice')).toMatchObject({ email: 'alice@new.example.com' });
    } finally {
      await local.close();
      await open.close();
    }
  });

  it('is idempotent: the same snapshot delivered twice, even without a link, leaves the same state', async () => {
    s = await setup(em);
    em.seed([], [{ name: 'staff' }]);
    const snapshot = { ...alice, active: true, version: 1, groups: ['staff'], attributes: { department: 'Sales' } };
    const first = await s.connector.upsertUser(snapshot, context());
    const state = await rest.user('alice');
    const before = em.stats().byRoute;
    // A redelivery that lost the link (e.g. the worker died before saving it).
    const second = await s.connector.upsertUser(snapshot, context());
    expect(second).toMatchObject({ operation: 'noop', remoteId: first.remoteId, writtenHash: first.writtenHash });
    expect(routeDelta(em, before)).toEqual({ 'POST user': 1, 'GET user': 1, 'GET user/group/direct': 1 });
    expect(await rest.user('alice')).toEqual(state);
    // And through the queue: a second event with the same content writes nothing.
    await s!.h.push(alice);
    const queued = em.stats().byRoute;
    await expect(s!.h.push(alice)).resolves.toMatchObject({ operation: 'noop' });
    expect(routeDelta(em, queued)).toEqual({ 'GET user': 1 });
    expect(em.stats().users).toBe(1);
  });

  it('applies the mapping module: alter hook, attribute map both ways', async () => {
    const mappingModule = fileURLToPath(new URL('./fixtures/mapping.mjs', import.meta.url));
    s = await setup(em, { mappingModule });
    await s!.h.push({ ...alice, attributes: { department: 'Sales', internalNote: 'not for Crowd' } });
    const remote = await rest.user('alice');
    expect(remote).toMatchObject({ 'display-name': 'Liddell, Alice' });
    expect(remote!.attributes).toMatchObject({ dept: ['Sales'], source: ['idsync'] });
    expect(remote!.attributes).not.toHaveProperty('internalNote');
    // A mapped attribute gone from the snapshot is deleted in Crowd.
    await s!.h.push({ ...alice, attributes: {} });
    expect((await rest.user('alice'))!.attributes).not.toHaveProperty('dept');
    await s!.h.push({ ...alice, attributes: { department: 'R&D' } });
    const pulled = await s.h.client.refresh({ id: 'u-1' }, { target: 'crowd' });
    expect(pulled).toMatchObject({ username: 'alice', attributes: { department: 'R&D' }, displayName: 'Liddell, Alice', firstName: 'Alice' });
    expect(pulled!.attributes).not.toHaveProperty('dept');
  });
});
