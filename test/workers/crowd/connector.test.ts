// The Crowd connector request by request, against a scripted client: how a user is found
// (key, linked name, app username, and when a name held by someone else is skipped), create
// and its "already exists" fall-through, the GET-merge-PUT update with only what differs,
// renames, Crowd's e-mail change refusal, attributes, groups, the delete policies and
// passwords, and the ApplyResult each reports. The mapping is the real one, so the bodies
// are what a push really sends.
import { PermanentError } from '../../../shared/errors.js';
import type { UserSnapshot } from '../../../shared/jobs.js';
import type { Link } from '../../../shared/links.js';
import type { Logger } from '../../../shared/logger.js';
import { CrowdConnector } from '../../../workers/crowd/connector.js';
import type { CrowdUser } from '../../../workers/crowd/entities.js';
import type { EventTokenStore } from '../../../workers/crowd/events.js';
import { CrowdMapping, type CrowdMappingModule } from '../../../workers/crowd/mapping.js';
import type { ConnectorContext } from '../../../workers/runtime/connector.js';
import { collect } from '../../helpers/collect.js';
import { crowdUser, fakeClient } from './fake-client.js';

type Impl = Parameters<typeof fakeClient>[0];
type Snapshot = UserSnapshot & { version: number };

const signal = new AbortController().signal;
const call = { abortSignal: signal };
const read = { abortSignal: signal, attributes: false };
const readAttributes = { abortSignal: signal, attributes: true };
const KEY = '32769:a-1';
const OTHER_KEY = '32769:z-9';
const PASSWORD = expect.stringMatching(/^\S{32}$/);

const alice: Snapshot = { id: 'u-1', username: 'alice', email: 'alice@example.com', firstName: 'Alice', lastName: 'Liddell', active: true, version: 1 };
const snap = (over: Partial<UserSnapshot> = {}): Snapshot => ({ ...alice, ...over });
/** Crowd's alice, exactly as `alice` wants her. */
const stored = (over: Partial<CrowdUser> = {}): CrowdUser =>
  crowdUser('alice', { key: KEY, firstName: 'Alice', lastName: 'Liddell', displayName: 'Alice Liddell', email: 'alice@example.com', attributes: {}, ...over });
const link = (over: Partial<Link> = {}): Link => ({ appUserId: 'u-1', target: 'crowd', remoteId: KEY, remoteName: 'alice', ...over });
/** Everything PUT /user sends for `stored()`, with the overrides. */
const putBody = (over: object = {}) => ({ name: 'alice', 'first-name': 'Alice', 'last-name': 'Liddell', 'display-name': 'Alice Liddell', email: 'alice@example.com', active: true, ...over });

/** getUser over a small directory: by key, or by name case-insensitively, as Crowd answers. */
const directory =
  (...users: CrowdUser[]): NonNullable<Impl['getUser']> =>
  (by) =>
    users.find((u) => ('key' in by ? u.key === by.key : u.name.toLowerCase() === by.username.toLowerCase())) ?? null;

type Logged = unknown[];
function recorder(source: string, log: Logged[]): Logger {
  const at =
    (level: string) =>
    (...args: unknown[]) => {
      log.push([source, level, ...args]);
    };
  const logger: Record<string, unknown> = { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
  logger['child'] = () => logger;
  return logger as unknown as Logger;
}

interface RigOptions {
  module?: CrowdMappingModule;
  deletePolicy?: 'deactivate' | 'delete';
  roleMap?: Record<string, string>;
  eventTokens?: EventTokenStore;
}

function rig(impl: Impl, options: RigOptions = {}) {
  const { client, calls } = fakeClient(impl);
  const log: Logged[] = [];
  const mapping = new CrowdMapping(options.module);
  const connector = new CrowdConnector({
    client,
    mapping,
    deletePolicy: options.deletePolicy ?? 'deactivate',
    roleMap: options.roleMap ?? {},
    logger: recorder('connector', log),
    eventTokens: options.eventTokens,
  });
  const ctx = (l?: Link): ConnectorContext => ({ link: l, logger: recorder('job', log), abortSignal: signal, jobId: 'j-1', attempt: 1 });
  const hash = async (s: Snapshot) => (await mapping.toCrowd(s)).hash;
  return { connector, calls, log, ctx, hash };
}

/** The rejection's class name, message and code, or a failure when the promise resolved. */
async function failure(p: Promise<unknown>): Promise<{ name: string; message: string; code: unknown }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; message: string; code?: unknown };
    return { name: e.name, message: e.message, code: e.code };
  }
  throw new Error('expected a rejection');
}

const emailRefusal = () =>
  new PermanentError(
    'Crowd refused PUT /user alice: APPLICATION_PERMISSION_DENIED — Not allowed to change user emails (Crowd blocks e-mail changes by applications unless the server runs with -Dcrowd.email.change.by.external.apps=true)',
    { code: 'APPLICATION_PERMISSION_DENIED', status: 403 },
  );

describe('CrowdConnector.upsertUser: create', () => {
  it('creates a user without a link straight away, with its profile, a random password and its attributes in one request', async () => {
    const r = rig({ createUser: () => crowdUser('alice', { key: KEY }) });
    const s = snap({ displayName: 'Ms Liddell', attributes: { department: 'Sales', skills: ['ts', 'sql'] } });
    await expect(r.connector.upsertUser(s, r.ctx())).resolves.toStrictEqual({
      operation: 'create',
      remoteId: KEY,
      remoteName: 'alice',
      writtenHash: await r.hash(s),
      changedAttributes: ['username', 'firstName', 'lastName', 'displayName', 'email', 'active', 'attributes.department', 'attributes.skills'],
    });
    expect(r.calls).toStrictEqual([
      [
        'createUser',
        { name: 'alice', 'first-name': 'Alice', 'last-name': 'Liddell', 'display-name': 'Ms Liddell', email: 'alice@example.com', active: true },
        PASSWORD,
        { department: ['Sales'], skills: ['ts', 'sql'] },
        call,
      ],
    ]);
    expect(r.log).toStrictEqual([]);
  });

  it('sends a fresh password on every create', async () => {
    const r = rig({ createUser: () => crowdUser('alice', { key: KEY }) });
    await r.connector.upsertUser(alice, r.ctx());
    await r.connector.upsertUser(alice, r.ctx());
    expect(r.calls[0]![2]).not.toBe(r.calls[1]![2]);
  });

  it('names only the fields it sent, and takes the name and handle Crowd reports (no key: the name)', async () => {
    const r = rig({ createUser: () => crowdUser('Alice') });
    const s = snap({ firstName: null, lastName: undefined, active: false });
    await expect(r.connector.upsertUser(s, r.ctx())).resolves.toStrictEqual({
      operation: 'create',
      remoteId: 'Alice',
      remoteName: 'Alice',
      writtenHash: await r.hash(s),
      changedAttributes: ['username', 'email', 'active'],
    });
    expect(r.calls).toStrictEqual([['createUser', { name: 'alice', email: 'alice@example.com', active: false }, PASSWORD, {}, call]]);
  });

  it('reads the new user when the create reply carries none, and falls back to the sent name when that read finds nothing', async () => {
    const found = rig({ createUser: () => undefined, getUser: () => crowdUser('Alice', { key: KEY }) });
    await expect(found.connector.upsertUser(alice, found.ctx())).resolves.toMatchObject({ operation: 'create', remoteId: KEY, remoteName: 'Alice' });
    expect(found.calls).toStrictEqual([
      ['createUser', { name: 'alice', 'first-name': 'Alice', 'last-name': 'Liddell', email: 'alice@example.com', active: true }, PASSWORD, {}, call],
      ['getUser', { username: 'alice' }, call],
    ]);

    const lost = rig({ createUser: () => undefined, getUser: () => null });
    await expect(lost.connector.upsertUser(alice, lost.ctx())).resolves.toStrictEqual({
      operation: 'create',
      remoteId: 'alice',
      remoteName: 'alice',
      writtenHash: await lost.hash(alice),
      changedAttributes: ['username', 'firstName', 'lastName', 'email', 'active'],
    });
  });

  it('adds the new user to its groups under the name Crowd reports; a membership Crowd already had still counts', async () => {
    const r = rig({ createUser: () => crowdUser('Alice', { key: KEY }), addUserToGroup: (_u, g) => (g === 'staff' ? 'added' : 'exists') });
    const s = snap({ groups: ['staff', 'Admins', 'STAFF'] });
    await expect(r.connector.upsertUser(s, r.ctx())).resolves.toStrictEqual({
      operation: 'create',
      remoteId: KEY,
      remoteName: 'Alice',
      writtenHash: await r.hash(s),
      changedAttributes: ['username', 'firstName', 'lastName', 'email', 'active', 'groups'],
    });
    expect(r.calls.slice(1)).toStrictEqual([
      ['addUserToGroup', 'Alice', 'staff', call],
      ['addUserToGroup', 'Alice', 'Admins', call],
    ]);
  });

  it('adds the new user to a single group', async () => {
    const r = rig({ createUser: () => crowdUser('alice', { key: KEY }), addUserToGroup: () => 'added' });
    await expect(r.connector.upsertUser(snap({ groups: ['staff'] }), r.ctx())).resolves.toMatchObject({ changedAttributes: ['username', 'firstName', 'lastName', 'email', 'active', 'groups'] });
    expect(r.calls.slice(1)).toStrictEqual([['addUserToGroup', 'alice', 'staff', call]]);
  });

  it('sends no membership for an empty group list', async () => {
    const r = rig({ createUser: () => crowdUser('alice', { key: KEY }) });
    await expect(r.connector.upsertUser(snap({ groups: [] }), r.ctx())).resolves.toMatchObject({ changedAttributes: ['username', 'firstName', 'lastName', 'email', 'active'] });
    expect(r.calls.map((c) => c[0])).toStrictEqual(['createUser']);
  });

  it('fails the create with the missing group named, after the other memberships', async () => {
    const r = rig({ createUser: () => crowdUser('alice', { key: KEY }), addUserToGroup: (_u, g) => (g === 'ghosts' ? 'no-group' : 'added') });
    await expect(failure(r.connector.upsertUser(snap({ groups: ['ghosts', 'staff'] }), r.ctx()))).resolves.toMatchObject({ name: 'PermanentError', code: 'GROUP_NOT_FOUND' });
    expect(r.calls.slice(1)).toStrictEqual([
      ['addUserToGroup', 'alice', 'ghosts', call],
      ['addUserToGroup', 'alice', 'staff', call],
    ]);
  });

  it('creates without a read when the link holds neither a key nor a name', async () => {
    const r = rig({ createUser: () => crowdUser('alice', { key: KEY }) });
    await expect(r.connector.upsertUser(alice, r.ctx({ appUserId: 'u-1', target: 'crowd', writtenHash: 'h' }))).resolves.toMatchObject({ operation: 'create' });
    expect(r.calls.map((c) => c[0])).toStrictEqual(['createUser']);
  });

  it('on "already exists", reads the user by the sent name (with attributes when they matter) and updates it, keeping Crowd\'s case', async () => {
    const r = rig({ createUser: () => 'exists', getUser: directory(stored({ name: 'ALICE', attributes: { department: ['Sales'] } })) });
    const s = snap({ attributes: { department: 'Sales' } });
    await expect(r.connector.upsertUser(s, r.ctx())).resolves.toStrictEqual({
      operation: 'noop',
      remoteId: KEY,
      remoteName: 'ALICE',
      writtenHash: await r.hash(s),
      changedAttributes: [],
    });
    expect(r.calls).toStrictEqual([
      ['createUser', { name: 'alice', 'first-name': 'Alice', 'last-name': 'Liddell', email: 'alice@example.com', active: true }, PASSWORD, { department: ['Sales'] }, call],
      ['getUser', { username: 'alice' }, readAttributes],
    ]);
    expect(r.log).toStrictEqual([['job', 'info', { remoteName: 'ALICE' }, 'linked to an existing Crowd user with the same name']]);
  });

  it('on "already exists", updates what differs', async () => {
    const r = rig({ createUser: () => 'exists', getUser: directory(stored({ firstName: 'Al' })), updateUser: () => undefined });
    await expect(r.connector.upsertUser(alice, r.ctx())).resolves.toMatchObject({ operation: 'update', changedAttributes: ['firstName'] });
    expect(r.calls.slice(1)).toStrictEqual([
      ['getUser', { username: 'alice' }, read],
      ['updateUser', 'alice', putBody(), call],
    ]);
  });

  it('fails as transient when Crowd says the user exists but does not return it', async () => {
    const r = rig({ createUser: () => 'exists', getUser: () => null });
    await expect(failure(r.connector.upsertUser(alice, r.ctx()))).resolves.toStrictEqual({
      name: 'TransientError',
      message: 'Crowd says user alice already exists but does not return it',
      code: undefined,
    });
    expect(r.log).toStrictEqual([]);
  });
});

describe('CrowdConnector.upsertUser: finding the linked user', () => {
  it('finds the user by the link\'s key and reads nothing else when nothing differs', async () => {
    const r = rig({ getUser: directory(stored()) });
    await expect(r.connector.upsertUser(alice, r.ctx(link()))).resolves.toStrictEqual({
      operation: 'noop',
      remoteId: KEY,
      remoteName: 'alice',
      writtenHash: await r.hash(alice),
      changedAttributes: [],
    });
    expect(r.calls).toStrictEqual([['getUser', { key: KEY }, read]]);
    expect(r.log).toStrictEqual([]);
  });

  it('falls back to the linked name, then to the app\'s username, and renames what it finds by the old name', async () => {
    const old = stored({ name: 'alice.old', key: undefined });
    const r = rig({ getUser: directory(old), renameUser: () => undefined });
    await expect(r.connector.upsertUser(alice, r.ctx(link({ remoteName: 'alice.old' })))).resolves.toStrictEqual({
      operation: 'rename',
      remoteId: 'alice',
      remoteName: 'alice',
      writtenHash: await r.hash(alice),
      changedAttributes: ['username'],
    });
    expect(r.calls).toStrictEqual([
      ['getUser', { key: KEY }, read],
      ['getUser', { username: 'alice.old' }, read],
      ['renameUser', 'alice.old', 'alice', call],
    ]);
    expect(r.log).toStrictEqual([]);
  });

  it('asks for the app\'s username after the linked name finds nobody', async () => {
    const r = rig({ getUser: directory(stored({ key: undefined })) });
    await expect(r.connector.upsertUser(alice, r.ctx(link({ remoteName: 'alice.old' })))).resolves.toMatchObject({ operation: 'noop', remoteId: 'alice', remoteName: 'alice' });
    expect(r.calls).toStrictEqual([
      ['getUser', { key: KEY }, read],
      ['getUser', { username: 'alice.old' }, read],
      ['getUser', { username: 'alice' }, read],
    ]);
  });

  it('keeps a user found by name that still has the linked key, without a warning', async () => {
    // A key lookup that missed (e.g. an eventually consistent directory) but the name still leads to the same user.
    let first = true;
    const r = rig({ getUser: (by) => ('key' in by && first ? ((first = false), null) : stored()) });
    await expect(r.connector.upsertUser(alice, r.ctx(link()))).resolves.toMatchObject({ operation: 'noop', remoteId: KEY });
    expect(r.calls).toStrictEqual([
      ['getUser', { key: KEY }, read],
      ['getUser', { username: 'alice' }, read],
    ]);
    expect(r.log).toStrictEqual([]);
  });

  it('never touches someone else who now holds the linked name; relinks to a different user with the app\'s own username, with a warning', async () => {
    const stranger = stored({ name: 'alice.old', key: '32769:s-1', firstName: 'Someone', lastName: 'Else' });
    const namesake = stored({ key: OTHER_KEY });
    const r = rig({ getUser: directory(stranger, namesake) });
    await expect(r.connector.upsertUser(alice, r.ctx(link({ remoteName: 'alice.old' })))).resolves.toStrictEqual({
      operation: 'noop',
      remoteId: OTHER_KEY,
      remoteName: 'alice',
      writtenHash: await r.hash(alice),
      changedAttributes: [],
    });
    expect(r.calls).toStrictEqual([
      ['getUser', { key: KEY }, read],
      ['getUser', { username: 'alice.old' }, read],
      ['getUser', { username: 'alice' }, read],
    ]);
    expect(r.log).toStrictEqual([['job', 'warn', { remoteName: 'alice' }, 'the linked Crowd user is gone; relinking to the Crowd user with the same name']]);
  });

  it('creates when neither the key nor any name leads to a user', async () => {
    const r = rig({ getUser: () => null, createUser: () => crowdUser('alice', { key: OTHER_KEY }) });
    await expect(r.connector.upsertUser(alice, r.ctx(link({ remoteName: 'alice.old' })))).resolves.toMatchObject({ operation: 'create', remoteId: OTHER_KEY });
    expect(r.calls.map((c) => [c[0], c[1]])).toStrictEqual([
      ['getUser', { key: KEY }],
      ['getUser', { username: 'alice.old' }],
      ['getUser', { username: 'alice' }],
      ['createUser', expect.objectContaining({ name: 'alice' })],
    ]);
  });

  it('does not ask for a handle without a colon as a key, and asks once for names that differ only in case', async () => {
    const r = rig({ getUser: directory(stored({ name: 'Alice', key: undefined })) });
    await expect(r.connector.upsertUser(alice, r.ctx(link({ remoteId: 'Alice', remoteName: 'Alice' })))).resolves.toStrictEqual({
      operation: 'noop',
      remoteId: 'Alice',
      remoteName: 'Alice',
      writtenHash: await r.hash(alice),
      changedAttributes: [],
    });
    expect(r.calls).toStrictEqual([['getUser', { username: 'Alice' }, read]]);
  });

  it('asks once for a linked name and a username that differ only in case, even when neither is found', async () => {
    const r = rig({ getUser: () => null, createUser: () => crowdUser('alice', { key: KEY }) });
    await expect(r.connector.upsertUser(alice, r.ctx(link({ remoteName: 'ALICE' })))).resolves.toMatchObject({ operation: 'create' });
    expect(r.calls.map((c) => [c[0], c[1]])).toStrictEqual([
      ['getUser', { key: KEY }],
      ['getUser', { username: 'ALICE' }],
      ['createUser', expect.objectContaining({ name: 'alice' })],
    ]);
  });

  it('takes a user found by the linked name when the link has no key to compare with', async () => {
    const r = rig({ getUser: directory(stored({ name: 'alice.old', key: OTHER_KEY })), renameUser: () => undefined });
    await expect(r.connector.upsertUser(alice, r.ctx(link({ remoteId: undefined, remoteName: 'alice.old' })))).resolves.toMatchObject({
      operation: 'rename',
      remoteId: OTHER_KEY,
      remoteName: 'alice',
    });
    expect(r.calls).toStrictEqual([
      ['getUser', { username: 'alice.old' }, read],
      ['renameUser', 'alice.old', 'alice', call],
    ]);
    expect(r.log).toStrictEqual([]);
  });
});

describe('CrowdConnector.upsertUser: update (GET-merge-PUT)', () => {
  it('PUTs Crowd\'s whole profile with the changed fields overlaid, and names them', async () => {
    const r = rig({ getUser: directory(stored()), updateUser: () => undefined });
    const s = snap({ firstName: 'Alicia', email: 'alicia@example.com' });
    await expect(r.connector.upsertUser(s, r.ctx(link()))).resolves.toStrictEqual({
      operation: 'update',
      remoteId: KEY,
      remoteName: 'alice',
      writtenHash: await r.hash(s),
      changedAttributes: ['firstName', 'email'],
    });
    expect(r.calls).toStrictEqual([
      ['getUser', { key: KEY }, read],
      ['updateUser', 'alice', putBody({ 'first-name': 'Alicia', email: 'alicia@example.com' }), call],
    ]);
  });

  it('changes every profile field it is given, in a fixed order', async () => {
    const r = rig({ getUser: directory(stored()), updateUser: () => undefined });
    const s = snap({ firstName: 'A', lastName: 'L', displayName: 'D', email: 'a@example.org' });
    await expect(r.connector.upsertUser(s, r.ctx(link()))).resolves.toMatchObject({ operation: 'update', changedAttributes: ['firstName', 'lastName', 'displayName', 'email'] });
    expect(r.calls[1]).toStrictEqual(['updateUser', 'alice', putBody({ 'first-name': 'A', 'last-name': 'L', 'display-name': 'D', email: 'a@example.org' }), call]);
  });

  it('keeps the fields the snapshot omits and leaves out the ones Crowd does not have', async () => {
    const r = rig({ getUser: directory(stored({ name: 'Alice', displayName: undefined, lastName: undefined })), updateUser: () => undefined });
    const s = snap({ firstName: 'Alicia', lastName: undefined });
    await expect(r.connector.upsertUser(s, r.ctx(link()))).resolves.toMatchObject({ operation: 'update', remoteName: 'Alice', changedAttributes: ['firstName'] });
    expect(r.calls[1]).toStrictEqual(['updateUser', 'Alice', { name: 'Alice', 'first-name': 'Alicia', email: 'alice@example.com', active: true }, call]);
  });

  it('reports a change of `active` alone as disable or restore', async () => {
    const off = rig({ getUser: directory(stored()), updateUser: () => undefined });
    await expect(off.connector.upsertUser(snap({ active: false }), off.ctx(link()))).resolves.toMatchObject({ operation: 'disable', changedAttributes: ['active'] });
    expect(off.calls[1]).toStrictEqual(['updateUser', 'alice', putBody({ active: false }), call]);

    const on = rig({ getUser: directory(stored({ active: false })), updateUser: () => undefined });
    await expect(on.connector.upsertUser(alice, on.ctx(link()))).resolves.toMatchObject({ operation: 'restore', changedAttributes: ['active'] });
    expect(on.calls[1]).toStrictEqual(['updateUser', 'alice', putBody(), call]);
  });

  it('reports `active` with another field as an update', async () => {
    const r = rig({ getUser: directory(stored({ active: false })), updateUser: () => undefined });
    await expect(r.connector.upsertUser(snap({ lastName: 'L.' }), r.ctx(link()))).resolves.toMatchObject({ operation: 'update', changedAttributes: ['lastName', 'active'] });
  });

  it('clears a name by leaving it out of the PUT, when Crowd\'s rule would store something else', async () => {
    const r = rig({ getUser: directory(stored({ displayName: 'Ms Liddell' })), updateUser: () => undefined });
    const s = snap({ firstName: null, displayName: 'Ms Liddell' });
    await expect(r.connector.upsertUser(s, r.ctx(link()))).resolves.toStrictEqual({
      operation: 'update',
      remoteId: KEY,
      remoteName: 'alice',
      writtenHash: await r.hash(s),
      changedAttributes: ['firstName'],
    });
    expect(r.calls[1]).toStrictEqual(['updateUser', 'alice', { name: 'alice', 'last-name': 'Liddell', 'display-name': 'Ms Liddell', email: 'alice@example.com', active: true }, call]);
  });

  it('sends nothing for a clear Crowd already refilled by its rule', async () => {
    // "Ms Liddell" split: first name "Ms".
    const r = rig({ getUser: directory(stored({ firstName: 'Ms', displayName: 'Ms Liddell' })) });
    await expect(r.connector.upsertUser(snap({ firstName: '', displayName: 'Ms Liddell' }), r.ctx(link()))).resolves.toMatchObject({ operation: 'noop' });
    expect(r.calls).toHaveLength(1);
  });

  it('takes a first name Crowd does not report as the empty one its rule stores', async () => {
    const r = rig({ getUser: directory(stored({ firstName: undefined, displayName: 'Liddell' })) });
    await expect(r.connector.upsertUser(snap({ firstName: null, displayName: 'Liddell' }), r.ctx(link()))).resolves.toMatchObject({ operation: 'noop', changedAttributes: [] });
    expect(r.calls).toHaveLength(1);
  });

  it('compares only the cleared names with Crowd\'s rule, not the omitted ones', async () => {
    // Crowd has no last name; the snapshot omits it, so it stays unsent and is not a change.
    const r = rig({ getUser: directory(stored({ lastName: undefined, displayName: 'Ms Liddell' })), updateUser: () => undefined });
    await expect(r.connector.upsertUser(snap({ firstName: null, lastName: undefined, displayName: 'Ms Liddell' }), r.ctx(link()))).resolves.toMatchObject({
      operation: 'update',
      changedAttributes: ['firstName'],
    });
    expect(r.calls[1]).toStrictEqual(['updateUser', 'alice', { name: 'alice', 'display-name': 'Ms Liddell', email: 'alice@example.com', active: true }, call]);
  });

  it('refills names cleared to nothing with Crowd\'s spelling of the username', async () => {
    const r = rig({ getUser: directory(crowdUser('ALICE', { key: KEY, firstName: '', lastName: 'ALICE', displayName: 'ALICE', email: 'alice@example.com' })) });
    await expect(r.connector.upsertUser(snap({ firstName: null, lastName: '', displayName: null }), r.ctx(link()))).resolves.toMatchObject({
      operation: 'noop',
      remoteName: 'ALICE',
    });
    expect(r.calls).toHaveLength(1);
  });

  it('compares a cleared display name with what Crowd derives from the names being sent', async () => {
    const r = rig({ getUser: directory(stored({ displayName: 'Ms Liddell' })), updateUser: () => undefined });
    await expect(r.connector.upsertUser(snap({ firstName: 'Alicia', displayName: null }), r.ctx(link()))).resolves.toMatchObject({
      operation: 'update',
      changedAttributes: ['firstName', 'displayName'],
    });
    expect(r.calls[1]).toStrictEqual(['updateUser', 'alice', { name: 'alice', 'first-name': 'Alicia', 'last-name': 'Liddell', email: 'alice@example.com', active: true }, call]);

    const same = rig({ getUser: directory(stored()) });
    await expect(same.connector.upsertUser(snap({ displayName: null }), same.ctx(link()))).resolves.toMatchObject({ operation: 'noop' });
  });

  it('refills a cleared last name from the display name', async () => {
    const r = rig({ getUser: directory(stored({ displayName: 'Alice Hargreaves' })), updateUser: () => undefined });
    await expect(r.connector.upsertUser(snap({ lastName: null, displayName: 'Alice Hargreaves' }), r.ctx(link()))).resolves.toMatchObject({
      operation: 'update',
      changedAttributes: ['lastName'],
    });
    expect(r.calls[1]).toStrictEqual(['updateUser', 'alice', { name: 'alice', 'first-name': 'Alice', 'display-name': 'Alice Hargreaves', email: 'alice@example.com', active: true }, call]);
  });

  it('treats a name that differs only in case as the same user and keeps Crowd\'s case', async () => {
    const r = rig({ getUser: directory(stored({ name: 'ALICE' })), updateUser: () => undefined });
    await expect(r.connector.upsertUser(snap({ lastName: 'L.' }), r.ctx(link()))).resolves.toMatchObject({ operation: 'update', remoteName: 'ALICE', changedAttributes: ['lastName'] });
    expect(r.calls[1]).toStrictEqual(['updateUser', 'ALICE', putBody({ name: 'ALICE', 'last-name': 'L.' }), call]);
  });
});

describe('CrowdConnector.upsertUser: rename', () => {
  it('renames with the reply\'s user, keeping the attributes read before', async () => {
    const old = stored({ name: 'alice.old', attributes: { department: ['Sales'] } });
    const r = rig({ getUser: directory(old), renameUser: () => stored({ key: '32769:a-2', attributes: undefined }) });
    const s = snap({ attributes: { department: 'Sales' } });
    await expect(r.connector.upsertUser(s, r.ctx(link({ remoteName: 'alice.old' })))).resolves.toStrictEqual({
      operation: 'rename',
      remoteId: '32769:a-2',
      remoteName: 'alice',
      writtenHash: await r.hash(s),
      changedAttributes: ['username'],
    });
    expect(r.calls).toStrictEqual([
      ['getUser', { key: KEY }, readAttributes],
      ['renameUser', 'alice.old', 'alice', call],
    ]);
  });

  it('stays a rename when other fields change too, and writes them under the new name', async () => {
    const r = rig({ getUser: directory(stored({ name: 'alice.old' })), renameUser: () => undefined, updateUser: () => undefined, listUserGroups: () => ['staff'] });
    await expect(r.connector.upsertUser(snap({ active: false, groups: ['staff'] }), r.ctx(link()))).resolves.toStrictEqual({
      operation: 'rename',
      remoteId: KEY,
      remoteName: 'alice',
      writtenHash: await r.hash(snap({ active: false, groups: ['staff'] })),
      changedAttributes: ['username', 'active'],
    });
    expect(r.calls.slice(1)).toStrictEqual([
      ['renameUser', 'alice.old', 'alice', call],
      ['listUserGroups', 'alice', 'direct', call],
      ['updateUser', 'alice', putBody({ active: false }), call],
    ]);
  });
});

describe('CrowdConnector.upsertUser: attributes', () => {
  it('stores, in one request, the attributes whose values differ', async () => {
    const current = { same: ['x'], both: ['p', 'q'], longer: ['ts'], cased: ['oslo'], value: ['v1'] };
    const r = rig({ getUser: directory(stored({ attributes: current })), storeAttributes: () => undefined });
    const s = snap({ attributes: { same: 'x', both: ['p', 'q'], longer: ['ts', 'sql'], cased: ['Oslo'], value: 'v2', added: '1' } });
    await expect(r.connector.upsertUser(s, r.ctx(link()))).resolves.toStrictEqual({
      operation: 'update',
      remoteId: KEY,
      remoteName: 'alice',
      writtenHash: await r.hash(s),
      changedAttributes: ['attributes.longer', 'attributes.cased', 'attributes.value', 'attributes.added'],
    });
    expect(r.calls).toStrictEqual([
      ['getUser', { key: KEY }, readAttributes],
      ['storeAttributes', 'alice', { longer: ['ts', 'sql'], cased: ['Oslo'], value: ['v2'], added: ['1'] }, call],
    ]);
  });

  // Crowd keeps an attribute's values as a set (duplicates dropped ignoring case, no order):
  // what it hands back in another order, or without a duplicate, is what was stored.
  it('takes the same values in another order, or with a duplicate, as unchanged', async () => {
    const r = rig({ getUser: directory(stored({ attributes: { tags: ['b', 'a'] } })) });
    const s = snap({ attributes: { tags: ['a', 'b', 'A'] } });
    await expect(r.connector.upsertUser(s, r.ctx(link()))).resolves.toMatchObject({ operation: 'noop', changedAttributes: [] });
    expect(r.calls).toStrictEqual([['getUser', { key: KEY }, readAttributes]]);
  });

  it('stores a shorter list', async () => {
    const r = rig({ getUser: directory(stored({ attributes: { skills: ['ts', 'sql'] } })), storeAttributes: () => undefined });
    await expect(r.connector.upsertUser(snap({ attributes: { skills: ['ts'] } }), r.ctx(link()))).resolves.toMatchObject({ changedAttributes: ['attributes.skills'] });
  });

  it('stores every attribute of a user read without attributes', async () => {
    const r = rig({ createUser: () => 'exists', getUser: () => stored({ attributes: undefined }), storeAttributes: () => undefined });
    await expect(r.connector.upsertUser(snap({ attributes: { department: 'Sales' } }), r.ctx())).resolves.toMatchObject({ changedAttributes: ['attributes.department'] });
  });

  it('deletes the mapped attributes a snapshot leaves out and Crowd has, one request each, after storing', async () => {
    const module = { attributeMap: { department: 'dept', costCentre: 'cost-centre', team: 'team', floor: 'floor' } };
    const current = { dept: ['Ops'], 'cost-centre': ['C1'], floor: ['3'], other: ['kept'] };
    const r = rig({ getUser: directory(stored({ attributes: current })), storeAttributes: () => undefined, deleteAttribute: () => undefined }, { module });
    const s = snap({ attributes: { department: 'Sales', unmapped: 'x' } });
    await expect(r.connector.upsertUser(s, r.ctx(link()))).resolves.toStrictEqual({
      operation: 'update',
      remoteId: KEY,
      remoteName: 'alice',
      writtenHash: await r.hash(s),
      changedAttributes: ['attributes.dept', 'attributes.cost-centre', 'attributes.floor'],
    });
    expect(r.calls).toStrictEqual([
      ['getUser', { key: KEY }, readAttributes],
      ['storeAttributes', 'alice', { dept: ['Sales'] }, call],
      ['deleteAttribute', 'alice', 'cost-centre', call],
      ['deleteAttribute', 'alice', 'floor', call],
    ]);
  });

  it('reads attributes for a mapping that manages some even when the snapshot sets none', async () => {
    const module = { attributeMap: { department: 'dept' } };
    const r = rig({ getUser: directory(stored({ attributes: { dept: ['Ops'] } })), deleteAttribute: () => undefined }, { module });
    await expect(r.connector.upsertUser(snap({ attributes: {} }), r.ctx(link()))).resolves.toMatchObject({ operation: 'update', changedAttributes: ['attributes.dept'] });
    expect(r.calls).toStrictEqual([
      ['getUser', { key: KEY }, readAttributes],
      ['deleteAttribute', 'alice', 'dept', call],
    ]);
  });
});

describe('CrowdConnector.upsertUser: groups', () => {
  it('sends only the membership difference, after the profile and attributes', async () => {
    const r = rig({
      getUser: directory(stored({ name: 'alice.old', attributes: {} })),
      renameUser: () => undefined,
      listUserGroups: () => ['STAFF', 'old'],
      updateUser: () => undefined,
      storeAttributes: () => undefined,
      addUserToGroup: () => 'added',
      removeUserFromGroup: () => 'removed',
    });
    const s = snap({ lastName: 'L.', attributes: { department: 'Sales' }, groups: ['staff', 'Admins'] });
    await expect(r.connector.upsertUser(s, r.ctx(link()))).resolves.toStrictEqual({
      operation: 'rename',
      remoteId: KEY,
      remoteName: 'alice',
      writtenHash: await r.hash(s),
      changedAttributes: ['username', 'lastName', 'attributes.department', 'groups'],
    });
    expect(r.calls).toStrictEqual([
      ['getUser', { key: KEY }, readAttributes],
      ['renameUser', 'alice.old', 'alice', call],
      ['listUserGroups', 'alice', 'direct', call],
      ['updateUser', 'alice', putBody({ 'last-name': 'L.' }), call],
      ['storeAttributes', 'alice', { department: ['Sales'] }, call],
      ['addUserToGroup', 'alice', 'Admins', call],
      ['removeUserFromGroup', 'alice', 'old', call],
    ]);
  });

  it('is a noop when the memberships already match, case-insensitively', async () => {
    const r = rig({ getUser: directory(stored()), listUserGroups: () => ['Staff'] });
    await expect(r.connector.upsertUser(snap({ groups: ['staff'] }), r.ctx(link()))).resolves.toMatchObject({ operation: 'noop', changedAttributes: [] });
    expect(r.calls).toStrictEqual([
      ['getUser', { key: KEY }, read],
      ['listUserGroups', 'alice', 'direct', call],
    ]);
  });

  it('names groups only when a membership actually changed', async () => {
    const r = rig({ getUser: directory(stored()), listUserGroups: () => ['old'], addUserToGroup: () => 'exists', removeUserFromGroup: () => 'absent' });
    await expect(r.connector.upsertUser(snap({ groups: ['new'] }), r.ctx(link()))).resolves.toStrictEqual({
      operation: 'update',
      remoteId: KEY,
      remoteName: 'alice',
      writtenHash: await r.hash(snap({ groups: ['new'] })),
      changedAttributes: [],
    });
    expect(r.calls.map((c) => c[0])).toStrictEqual(['getUser', 'listUserGroups', 'addUserToGroup', 'removeUserFromGroup']);
  });

  it('names groups for a removal alone', async () => {
    const r = rig({ getUser: directory(stored()), listUserGroups: () => ['old'], removeUserFromGroup: () => 'removed' });
    await expect(r.connector.upsertUser(snap({ groups: [] }), r.ctx(link()))).resolves.toMatchObject({ operation: 'update', changedAttributes: ['groups'] });
  });

  it('leaves memberships alone when the snapshot has no group list', async () => {
    const r = rig({ getUser: directory(stored()) });
    await expect(r.connector.upsertUser(alice, r.ctx(link()))).resolves.toMatchObject({ operation: 'noop' });
    expect(r.calls).toHaveLength(1);
  });

  it('retries when the user vanishes while its groups are read', async () => {
    const r = rig({ getUser: directory(stored()), listUserGroups: () => null });
    await expect(failure(r.connector.upsertUser(snap({ groups: ['staff'] }), r.ctx(link())))).resolves.toStrictEqual({
      name: 'TransientError',
      message: 'Crowd user alice disappeared while reading its groups',
      code: undefined,
    });
  });
});

describe('CrowdConnector.upsertUser: Crowd refuses the e-mail change', () => {
  it('writes everything else, then fails with Crowd\'s refusal', async () => {
    const refusal = emailRefusal();
    let puts = 0;
    const r = rig({
      getUser: directory(stored()),
      listUserGroups: () => [],
      updateUser: () => {
        if (puts++ === 0) throw refusal;
      },
      storeAttributes: () => undefined,
      addUserToGroup: () => 'added',
    });
    const s = snap({ firstName: 'Alicia', email: 'alicia@example.com', attributes: { department: 'Sales' }, groups: ['staff'] });
    await expect(r.connector.upsertUser(s, r.ctx(link()))).rejects.toBe(refusal);
    expect(r.calls).toStrictEqual([
      ['getUser', { key: KEY }, readAttributes],
      ['listUserGroups', 'alice', 'direct', call],
      ['updateUser', 'alice', putBody({ 'first-name': 'Alicia', email: 'alicia@example.com' }), call],
      // Crowd's e-mail stays in the full-replace body.
      ['updateUser', 'alice', putBody({ 'first-name': 'Alicia' }), call],
      ['storeAttributes', 'alice', { department: ['Sales'] }, call],
      ['addUserToGroup', 'alice', 'staff', call],
    ]);
  });

  it('sends no second PUT when the e-mail was the only change', async () => {
    const refusal = emailRefusal();
    const r = rig({
      getUser: directory(stored({ displayName: 'Ms Liddell' })),
      updateUser: () => {
        throw refusal;
      },
      storeAttributes: () => undefined,
    });
    const s = snap({ email: 'alicia@example.com', attributes: { department: 'Sales' } });
    await expect(r.connector.upsertUser(s, r.ctx(link()))).rejects.toBe(refusal);
    expect(r.calls.map((c) => c[0])).toStrictEqual(['getUser', 'updateUser', 'storeAttributes']);
  });

  it('keeps a cleared name out of the second PUT', async () => {
    const refusal = emailRefusal();
    let puts = 0;
    const r = rig({
      getUser: directory(stored({ displayName: 'Ms Liddell' })),
      updateUser: () => {
        if (puts++ === 0) throw refusal;
      },
    });
    await expect(r.connector.upsertUser(snap({ firstName: null, displayName: 'Ms Liddell', email: 'x@example.com' }), r.ctx(link()))).rejects.toBe(refusal);
    expect(r.calls[2]).toStrictEqual(['updateUser', 'alice', { name: 'alice', 'last-name': 'Liddell', 'display-name': 'Ms Liddell', email: 'alice@example.com', active: true }, call]);
  });

  it('passes a refusal straight on when the e-mail was not being changed', async () => {
    const refusal = emailRefusal();
    const r = rig({
      getUser: directory(stored()),
      updateUser: () => {
        throw refusal;
      },
    });
    await expect(r.connector.upsertUser(snap({ firstName: 'Alicia', attributes: { department: 'Sales' } }), r.ctx(link()))).rejects.toBe(refusal);
    expect(r.calls.map((c) => c[0])).toStrictEqual(['getUser', 'updateUser']);
  });

  it('passes any other PUT failure straight on', async () => {
    const other = new PermanentError('Crowd refused PUT /user alice: INVALID_USER — bad e-mail', { code: 'INVALID_USER', status: 400 });
    const r = rig({
      getUser: directory(stored()),
      updateUser: () => {
        throw other;
      },
    });
    await expect(r.connector.upsertUser(snap({ email: 'alicia@example.com', attributes: { department: 'Sales' } }), r.ctx(link()))).rejects.toBe(other);
    expect(r.calls.map((c) => c[0])).toStrictEqual(['getUser', 'updateUser']);
  });
});

describe('CrowdConnector: a failed write fails the job', () => {
  const boom = () => new Error('connection reset');

  it('when storing or deleting attributes fails', async () => {
    const module = { attributeMap: { department: 'dept', costCentre: 'cost-centre' } };
    const current = { 'cost-centre': ['C1'] };
    const storing = rig({ getUser: directory(stored({ attributes: current })), storeAttributes: () => Promise.reject(boom()) }, { module });
    await expect(storing.connector.upsertUser(snap({ attributes: { department: 'Sales' } }), storing.ctx(link()))).rejects.toThrow('connection reset');
    expect(storing.calls.map((c) => c[0])).toStrictEqual(['getUser', 'storeAttributes']);

    const deleting = rig({ getUser: directory(stored({ attributes: current })), deleteAttribute: () => Promise.reject(boom()) }, { module });
    await expect(deleting.connector.upsertUser(snap({ attributes: {} }), deleting.ctx(link()))).rejects.toThrow('connection reset');
  });

  it('when the PUT without the refused e-mail fails', async () => {
    let puts = 0;
    const r = rig({
      getUser: directory(stored()),
      updateUser: () => {
        if (puts++ === 0) throw emailRefusal();
        return Promise.reject(boom());
      },
    });
    await expect(r.connector.upsertUser(snap({ firstName: 'Alicia', email: 'alicia@example.com', attributes: { department: 'Sales' } }), r.ctx(link()))).rejects.toThrow('connection reset');
    expect(r.calls.map((c) => c[0])).toStrictEqual(['getUser', 'updateUser', 'updateUser']);
  });

  it('when deactivating or deleting fails, and when the probe fails', async () => {
    const deactivating = rig({ getUser: directory(stored()), updateUser: () => Promise.reject(boom()) });
    await expect(deactivating.connector.deleteUser({ id: 'u-1', username: 'alice' }, deactivating.ctx(link()))).rejects.toThrow('connection reset');

    const deleting = rig({ getUser: directory(stored()), deleteUser: () => Promise.reject(boom()) }, { deletePolicy: 'delete' });
    await expect(deleting.connector.deleteUser({ id: 'u-1', username: 'alice' }, deleting.ctx(link()))).rejects.toThrow('connection reset');

    const probing = rig({ ping: () => Promise.reject(boom()) });
    await expect(probing.connector.probe({})).rejects.toThrow('connection reset');
  });
});

describe('CrowdConnector.deleteUser', () => {
  it('deactivates with the whole profile kept (the default policy)', async () => {
    const r = rig({ getUser: directory(stored()), updateUser: () => undefined });
    await expect(r.connector.deleteUser({ id: 'u-1', username: 'alice' }, r.ctx(link()))).resolves.toStrictEqual({
      operation: 'disable',
      remoteId: KEY,
      remoteName: 'alice',
      changedAttributes: ['active'],
    });
    expect(r.calls).toStrictEqual([
      ['getUser', { key: KEY }, call],
      ['updateUser', 'alice', putBody({ active: false }), call],
    ]);
  });

  it('deactivates a user without a key, found by the app\'s username', async () => {
    const r = rig({ getUser: directory(crowdUser('Alice', { email: 'a@example.com' })), updateUser: () => undefined });
    await expect(r.connector.deleteUser({ id: 'u-1', username: 'alice' }, r.ctx())).resolves.toStrictEqual({
      operation: 'disable',
      remoteId: 'Alice',
      remoteName: 'Alice',
      changedAttributes: ['active'],
    });
    expect(r.calls).toStrictEqual([
      ['getUser', { username: 'alice' }, call],
      ['updateUser', 'Alice', { name: 'Alice', email: 'a@example.com', active: false }, call],
    ]);
  });

  it('relinks to a different user with the app\'s username, with a warning on the job\'s logger', async () => {
    const r = rig({ getUser: directory(stored({ key: OTHER_KEY })), updateUser: () => undefined });
    await expect(r.connector.deleteUser({ id: 'u-1', username: 'alice' }, r.ctx(link()))).resolves.toMatchObject({ operation: 'disable', remoteId: OTHER_KEY });
    expect(r.log).toStrictEqual([['job', 'warn', { remoteName: 'alice' }, 'the linked Crowd user is gone; relinking to the Crowd user with the same name']]);
  });

  it('does nothing to a user already inactive', async () => {
    const r = rig({ getUser: directory(stored({ active: false })) });
    await expect(r.connector.deleteUser({ id: 'u-1', username: 'alice' }, r.ctx(link()))).resolves.toStrictEqual({ operation: 'noop', remoteId: KEY, remoteName: 'alice' });
    expect(r.calls).toHaveLength(1);
  });

  it('counts a user Crowd does not have as done, and drops the link', async () => {
    const r = rig({ getUser: () => null });
    await expect(r.connector.deleteUser({ id: 'u-1' }, r.ctx(link()))).resolves.toStrictEqual({ operation: 'noop', unlink: true });
    expect(r.calls).toStrictEqual([
      ['getUser', { key: KEY }, call],
      ['getUser', { username: 'alice' }, call],
    ]);
  });

  it('does not ask for an empty linked name', async () => {
    const r = rig({ getUser: () => null });
    await expect(r.connector.deleteUser({ id: 'u-1' }, r.ctx(link({ remoteName: '' })))).resolves.toStrictEqual({ operation: 'noop', unlink: true });
    expect(r.calls).toStrictEqual([['getUser', { key: KEY }, call]]);
  });

  it('skips a stranger holding the linked name when the reference has no username', async () => {
    const r = rig({ getUser: directory(stored({ key: OTHER_KEY })) });
    await expect(r.connector.deleteUser({ id: 'u-1' }, r.ctx(link()))).resolves.toStrictEqual({ operation: 'noop', unlink: true });
    expect(r.log).toStrictEqual([]);
  });

  it('deletes with the delete policy, inactive or not, and drops the link; already gone counts as done', async () => {
    for (const [active, existed] of [[true, true], [false, false]] as const) {
      const r = rig({ getUser: directory(stored({ active })), deleteUser: () => existed }, { deletePolicy: 'delete' });
      await expect(r.connector.deleteUser({ id: 'u-1', username: 'alice' }, r.ctx(link()))).resolves.toStrictEqual({ operation: 'delete', remoteName: 'alice', unlink: true });
      expect(r.calls).toStrictEqual([
        ['getUser', { key: KEY }, call],
        ['deleteUser', 'alice', call],
      ]);
    }
  });

  it('with the delete policy, drops the link of a user Crowd does not have', async () => {
    const r = rig({ getUser: () => null }, { deletePolicy: 'delete' });
    await expect(r.connector.deleteUser({ id: 'u-1', username: 'alice' }, r.ctx())).resolves.toStrictEqual({ operation: 'noop', unlink: true });
    expect(r.calls).toStrictEqual([['getUser', { username: 'alice' }, call]]);
  });
});

describe('CrowdConnector.setPassword', () => {
  it('sets the password of the linked user', async () => {
    const r = rig({ getUser: directory(stored()), setPassword: () => true });
    await expect(r.connector.setPassword({ id: 'u-1', username: 'alice' }, 'n3w-Secret', r.ctx(link()))).resolves.toStrictEqual({
      operation: 'password',
      remoteId: KEY,
      remoteName: 'alice',
      changedAttributes: ['password'],
    });
    expect(r.calls).toStrictEqual([
      ['getUser', { key: KEY }, call],
      ['setPassword', 'alice', 'n3w-Secret', call],
    ]);
  });

  it('identifies a user without a key by name', async () => {
    const r = rig({ getUser: directory(crowdUser('Alice')), setPassword: () => true });
    await expect(r.connector.setPassword({ id: 'u-1', username: 'alice' }, 'pw', r.ctx())).resolves.toStrictEqual({
      operation: 'password',
      remoteId: 'Alice',
      remoteName: 'Alice',
      changedAttributes: ['password'],
    });
    expect(r.calls).toStrictEqual([
      ['getUser', { username: 'alice' }, call],
      ['setPassword', 'Alice', 'pw', call],
    ]);
  });

  it('relinks to a different user with the app\'s username, with a warning on the job\'s logger', async () => {
    const r = rig({ getUser: directory(stored({ name: 'Alice', key: OTHER_KEY })), setPassword: () => true });
    await expect(r.connector.setPassword({ id: 'u-1', username: 'alice' }, 'pw', r.ctx(link({ remoteName: 'alice.old' })))).resolves.toStrictEqual({
      operation: 'password',
      remoteId: OTHER_KEY,
      remoteName: 'Alice',
      changedAttributes: ['password'],
    });
    expect(r.log).toStrictEqual([['job', 'warn', { remoteName: 'Alice' }, 'the linked Crowd user is gone; relinking to the Crowd user with the same name']]);
  });

  it("relinks when the link remembers the app's own username in another case", async () => {
    const r = rig({ getUser: directory(stored({ name: 'Alice', key: OTHER_KEY })), setPassword: () => true });
    await expect(r.connector.setPassword({ id: 'u-1', username: 'alice' }, 'pw', r.ctx(link({ remoteName: 'Alice' })))).resolves.toStrictEqual({
      operation: 'password',
      remoteId: OTHER_KEY,
      remoteName: 'Alice',
      changedAttributes: ['password'],
    });
    expect(r.log).toStrictEqual([['job', 'warn', { remoteName: 'Alice' }, 'the linked Crowd user is gone; relinking to the Crowd user with the same name']]);
  });

  it('fails as transient (USER_NOT_FOUND), without creating, while Crowd has no such user', async () => {
    const r = rig({ getUser: () => null });
    await expect(failure(r.connector.setPassword({ id: 'u-1', username: 'alice' }, 'pw', r.ctx()))).resolves.toStrictEqual({
      name: 'TransientError',
      message: 'Crowd has no user alice yet; the password is retried after the push creates it',
      code: 'USER_NOT_FOUND',
    });
    expect(r.calls).toStrictEqual([['getUser', { username: 'alice' }, call]]);
  });

  it('names the app user when the reference has no username', async () => {
    const r = rig({});
    await expect(failure(r.connector.setPassword({ id: 'u-1' }, 'pw', r.ctx()))).resolves.toStrictEqual({
      name: 'TransientError',
      message: 'Crowd has no user for app user u-1 yet; the password is retried after the push creates it',
      code: 'USER_NOT_FOUND',
    });
    expect(r.calls).toStrictEqual([]);
  });

  it('fails as transient when the user disappears before the password is set', async () => {
    const r = rig({ getUser: directory(stored({ name: 'Alice' })), setPassword: () => false });
    await expect(failure(r.connector.setPassword({ id: 'u-1', username: 'alice' }, 'pw', r.ctx(link())))).resolves.toStrictEqual({
      name: 'TransientError',
      message: 'Crowd user Alice disappeared before its password could be set',
      code: 'USER_NOT_FOUND',
    });
  });
});

describe('CrowdConnector.getUser', () => {
  it('reads the linked user with attributes, direct groups and roles from nested groups', async () => {
    const r = rig(
      {
        getUser: directory(stored({ displayName: 'Ms Liddell', attributes: { department: ['Sales'], lastAuthenticated: ['1'] } })),
        listUserGroups: (_n, scope) => (scope === 'direct' ? ['staff'] : ['staff', 'Team-Leads']),
      },
      { roleMap: { 'team-leads': 'editor' } },
    );
    await expect(r.connector.getUser({ id: 'u-1', username: 'alice' }, r.ctx(link()))).resolves.toStrictEqual({
      target: 'crowd',
      remoteId: KEY,
      username: 'alice',
      active: true,
      email: 'alice@example.com',
      firstName: 'Alice',
      lastName: 'Liddell',
      displayName: 'Ms Liddell',
      groups: ['staff'],
      roles: ['editor'],
      attributes: { department: 'Sales' },
    });
    expect(r.calls).toStrictEqual([
      ['getUser', { key: KEY }, readAttributes],
      ['listUserGroups', 'alice', 'direct', call],
      ['listUserGroups', 'alice', 'nested', call],
    ]);
  });

  it('is null when Crowd has no such user', async () => {
    const r = rig({ getUser: () => null });
    await expect(r.connector.getUser({ id: 'u-1', username: 'alice' }, r.ctx())).resolves.toBeNull();
    expect(r.calls).toStrictEqual([['getUser', { username: 'alice' }, readAttributes]]);
  });
});

describe('CrowdConnector.readUser', () => {
  it('reads a name by name only, with attributes and groups', async () => {
    const r = rig({ getUser: directory(stored()), listUserGroups: () => [] });
    await expect(r.connector.readUser('alice', { abortSignal: signal })).resolves.toMatchObject({ remoteId: KEY, username: 'alice', groups: [], roles: [] });
    expect(r.calls).toStrictEqual([
      ['getUser', { username: 'alice' }, readAttributes],
      ['listUserGroups', 'alice', 'direct', readAttributes],
      ['listUserGroups', 'alice', 'nested', readAttributes],
    ]);
  });

  it('reads what looks like a key by key first', async () => {
    const r = rig({ getUser: directory(stored()) });
    await expect(r.connector.readUser(KEY, { abortSignal: signal, profileOnly: true })).resolves.toStrictEqual({
      target: 'crowd',
      remoteId: KEY,
      username: 'alice',
      active: true,
      email: 'alice@example.com',
      firstName: 'Alice',
      lastName: 'Liddell',
      displayName: 'Alice Liddell',
    });
    expect(r.calls).toStrictEqual([['getUser', { key: KEY }, readAttributes]]);
  });

  it('falls back to a name with a colon when no key matches', async () => {
    const odd = crowdUser('team:alice');
    const r = rig({ getUser: directory(odd) });
    await expect(r.connector.readUser('team:alice', { profileOnly: true })).resolves.toStrictEqual({ target: 'crowd', remoteId: 'team:alice', username: 'team:alice', active: true });
    expect(r.calls).toStrictEqual([
      ['getUser', { key: 'team:alice' }, { abortSignal: undefined, attributes: true }],
      ['getUser', { username: 'team:alice' }, { abortSignal: undefined, attributes: true }],
    ]);
  });

  it('is null for a user Crowd does not have', async () => {
    const r = rig({ getUser: () => null });
    await expect(r.connector.readUser('nobody')).resolves.toBeNull();
    await expect(r.connector.readUser('1:nobody')).resolves.toBeNull();
    expect(r.calls.map((c) => c[1])).toStrictEqual([{ username: 'nobody' }, { key: '1:nobody' }, { username: '1:nobody' }]);
  });
});

describe('CrowdConnector.expectedRemote', () => {
  it('is what a push makes of the snapshot, without a remote id; omitted names stay out', async () => {
    const r = rig({});
    await expect(r.connector.expectedRemote(snap({ lastName: undefined, attributes: { department: 'Sales', skills: ['ts', 'sql'] } }))).resolves.toStrictEqual({
      target: 'crowd',
      username: 'alice',
      active: true,
      email: 'alice@example.com',
      firstName: 'Alice',
      attributes: { department: 'Sales', skills: ['ts', 'sql'] },
    });
    expect(r.calls).toStrictEqual([]);
  });

  it('maps attributes back through the attribute map and carries the group list', async () => {
    const r = rig({}, { module: { attributeMap: { department: 'dept' } } });
    await expect(r.connector.expectedRemote(snap({ attributes: { department: 'Sales' }, groups: ['staff', 'STAFF'] }))).resolves.toStrictEqual({
      target: 'crowd',
      username: 'alice',
      active: true,
      email: 'alice@example.com',
      firstName: 'Alice',
      lastName: 'Liddell',
      groups: ['staff'],
      attributes: { department: 'Sales' },
    });
    await expect(r.connector.expectedRemote(snap({ groups: [] }))).resolves.toMatchObject({ groups: [] });
  });

  it('fills a cleared name by Crowd\'s rule when the snapshot decides all three names', async () => {
    const r = rig({});
    await expect(r.connector.expectedRemote(snap({ firstName: null, displayName: 'Ms Liddell' }))).resolves.toMatchObject({
      firstName: 'Ms',
      lastName: 'Liddell',
      displayName: 'Ms Liddell',
    });
    await expect(r.connector.expectedRemote(snap({ displayName: '' }))).resolves.toMatchObject({ firstName: 'Alice', lastName: 'Liddell', displayName: 'Alice Liddell' });
    await expect(r.connector.expectedRemote(snap({ firstName: null, lastName: null, displayName: null }))).resolves.toStrictEqual({
      target: 'crowd',
      username: 'alice',
      active: true,
      email: 'alice@example.com',
      firstName: '',
      lastName: 'alice',
      displayName: 'alice',
    });
  });

  it('hands the mapping module\'s alterRemoteUser a Crowd user without a key, inactive when the snapshot is', async () => {
    const module: CrowdMappingModule = {
      alterRemoteUser: (remote, crowd) => ({ ...remote, attributes: { key: crowd.key ?? 'none', updated: String(crowd.updatedAt) } }),
    };
    const r = rig({}, { module });
    await expect(r.connector.expectedRemote(snap({ active: false }))).resolves.toStrictEqual({
      target: 'crowd',
      username: 'alice',
      active: false,
      email: 'alice@example.com',
      firstName: 'Alice',
      lastName: 'Liddell',
      attributes: { key: 'none', updated: 'undefined' },
    });
  });

  it('leaves a cleared name undefined when the result depends on Crowd\'s current names', async () => {
    const r = rig({});
    await expect(r.connector.expectedRemote(snap({ firstName: null }))).resolves.toStrictEqual({
      target: 'crowd',
      username: 'alice',
      active: true,
      email: 'alice@example.com',
      lastName: 'Liddell',
    });
    // Each name the snapshot omits leaves the outcome to Crowd's current value.
    await expect(r.connector.expectedRemote(snap({ firstName: null, lastName: undefined, displayName: 'Ms Liddell' }))).resolves.toStrictEqual({
      target: 'crowd',
      username: 'alice',
      active: true,
      email: 'alice@example.com',
      displayName: 'Ms Liddell',
    });
    await expect(r.connector.expectedRemote(snap({ firstName: undefined, lastName: null, displayName: 'Alice Hargreaves' }))).resolves.toStrictEqual({
      target: 'crowd',
      username: 'alice',
      active: true,
      email: 'alice@example.com',
      displayName: 'Alice Hargreaves',
    });
  });
});

describe('CrowdConnector: the rest of the interface', () => {
  it('is the crowd target and takes the remote name as the app username', async () => {
    const r = rig({});
    expect(r.connector.target).toBe('crowd');
    await expect(r.connector.appUsername({ target: 'crowd', remoteId: KEY, username: 'alice.l', active: true })).resolves.toBe('alice.l');
  });

  it('probes with a ping and closes the client', async () => {
    const r = rig({ ping: () => undefined, close: () => undefined });
    await expect(r.connector.probe({ abortSignal: signal })).resolves.toBeUndefined();
    await expect(r.connector.close()).resolves.toBeUndefined();
    expect(r.calls).toStrictEqual([['ping', { abortSignal: signal }], ['close']]);
  });

  it('lists every user with attributes by default', async () => {
    const r = rig({ searchUsers: () => [stored({ attributes: { department: ['Sales'] } })] });
    await expect(collect(r.connector.listUsers())).resolves.toMatchObject([{ remoteId: KEY, attributes: { department: 'Sales' } }]);
    expect(r.calls).toStrictEqual([['searchUsers', { startIndex: 0, maxResults: 1000, restriction: undefined, attributes: true }, { attributes: true }]]);

    const plain = rig({ searchUsers: () => [] });
    await collect(plain.connector.listUsers({ attributes: false, pageSize: 5 }));
    expect(plain.calls[0]![1]).toStrictEqual({ startIndex: 0, maxResults: 5, restriction: undefined, attributes: false });
  });

  it('lists the users changed since a date', async () => {
    const r = rig({ searchUsers: () => [] });
    await collect(r.connector.listUsersChangedSince(new Date('2024-05-01T10:00:00.000Z'), { overlapMs: 1000, pageSize: 10 }));
    expect(r.calls[0]![1]).toStrictEqual({ startIndex: 0, maxResults: 10, restriction: 'updatedDate > "2024-05-01T09:59:58.999+0000"', attributes: false });
  });

  it('reads groups for incremental changes only when a role map is set', async () => {
    const plain = rig({ searchUsers: () => [crowdUser('bob')] });
    await expect(collect(plain.connector.listChanges({ since: undefined }))).resolves.toStrictEqual([
      { type: 'resync', reason: 'initial' },
      { type: 'upsert', user: { target: 'crowd', remoteId: 'bob', username: 'bob', active: true } },
    ]);
    expect(plain.calls.map((c) => c[0])).toStrictEqual(['searchUsers']);

    const mapped = rig({ searchUsers: () => [crowdUser('bob')], listUserGroups: (_n, scope) => (scope === 'direct' ? ['leads'] : ['leads']) }, { roleMap: { leads: 'editor' } });
    await expect(collect(mapped.connector.listChanges({ since: undefined }))).resolves.toStrictEqual([
      { type: 'resync', reason: 'initial' },
      { type: 'upsert', user: { target: 'crowd', remoteId: 'bob', username: 'bob', active: true, groups: ['leads'], roles: ['editor'] } },
    ]);
    expect(mapped.calls.map((c) => c[0])).toStrictEqual(['searchUsers', 'listUserGroups', 'listUserGroups']);
  });

  it('reads incremental changes through its event token store, warning on its own logger', async () => {
    let token: string | undefined = 'old';
    const tokens = {
      get: async () => token,
      set: async (t: string) => {
        token = t;
      },
      clear: async () => {
        token = undefined;
      },
    } as unknown as EventTokenStore;
    const r = rig({ eventsSince: () => ({ kind: 'expired' }), currentEventToken: () => 'fresh', searchUsers: () => [] }, { eventTokens: tokens });
    await expect(collect(r.connector.listChanges({ since: new Date(), abortSignal: signal }))).resolves.toStrictEqual([{ type: 'resync', reason: 'expired' }]);
    expect(token).toBe('fresh');
    expect(r.calls.slice(0, 2)).toStrictEqual([
      ['eventsSince', 'old', call],
      ['currentEventToken', call],
    ]);
    expect(r.log).toStrictEqual([['connector', 'warn', 'the Crowd event token expired; re-reading every user']]);
  });
});
