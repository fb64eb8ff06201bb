// How an `apply-user` job changes the application: which fields each action takes (a pull what
// the source is the authority for, an update the plan's fields, an import everything), how the
// application user is found (the job's id, else the link, else an import's username / e-mail
// match in the directory), what is written back to the link, what the job returns, what is
// audited, and which failures are permanent. The directory is the in-memory one, recording each
// call; the links are the real store on Redis; audit and logger are stand-ins that record.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AuditEntry } from '../../../shared/audit.js';
import { defaultAuthority } from '../../../shared/config.js';
import { PermanentError, TransientError, errorKind, isPermanentError } from '../../../shared/errors.js';
import { SCHEMA_VERSION, type RemoteUser, type Target } from '../../../shared/jobs.js';
import { LinkStore, remoteHash } from '../../../shared/links.js';
import type { Logger } from '../../../shared/logger.js';
import type { AppApplyResult, AppChange, AppPhoto, AppUser, DirectoryCallOptions } from '../../../workers/app/directory.js';
import { createApplyProcessor, type ApplyProcessorDeps } from '../../../workers/app/processor.js';
import { fixDate } from '../../helpers/clock.js';
import { MemoryDirectory } from '../../helpers/memory-directory.js';
import { deletePrefix, uniquePrefix, workerRedis } from '../../helpers/redis.js';

const T0 = Date.UTC(2026, 5, 1, 12);
const PHOTO = Buffer.from('a tiny jpeg');

type Method = 'apply' | 'setRoles' | 'setPhoto';

/** The in-memory directory, recording each write with the signal it was given. */
class RecordingDirectory extends MemoryDirectory {
  readonly calls: unknown[][] = [];
  readonly signals: (AbortSignal | undefined)[] = [];
  /** Runs before each write: may move the clock or throw as the application would. */
  before: ((method: Method) => void) | undefined;

  #record(method: Method, args: unknown[], options: DirectoryCallOptions | undefined): void {
    this.calls.push([method, ...args]);
    this.signals.push(options?.abortSignal);
    this.before?.(method);
  }

  override async apply(change: AppChange, options?: DirectoryCallOptions): Promise<AppApplyResult> {
    this.#record('apply', [structuredClone(change)], options);
    return super.apply(change);
  }

  override async setRoles(id: string, roles: readonly string[], options?: DirectoryCallOptions): Promise<boolean> {
    this.#record('setRoles', [id, [...roles]], options);
    return super.setRoles(id, roles);
  }

  override async setPhoto(id: string, photo: AppPhoto | null, options?: DirectoryCallOptions): Promise<boolean> {
    this.#record('setPhoto', [id, photo && { ...photo, data: Buffer.from(photo.data) }], options);
    return super.setPhoto(id, photo);
  }
}

let redis: Redis;
let prefix: string;
let links: LinkStore;

beforeAll(() => {
  redis = workerRedis();
});
afterAll(async () => {
  await redis.quit();
});
beforeEach(() => {
  fixDate(T0);
  prefix = uniquePrefix('app-proc');
  links = new LinkStore(redis, prefix);
});
afterEach(async () => {
  jest.useRealTimers();
  await deletePrefix(redis, prefix);
});

const appUser = (id: string, over: Partial<AppUser> = {}): AppUser => ({ id, username: `user-${id}`, email: `${id}@example.com`, active: true, ...over });

/** Bob as Crowd reports him, every field present. */
const bob = (over: Partial<RemoteUser> = {}): RemoteUser => ({
  target: 'crowd', remoteId: 'r-bob', username: 'bob', email: 'bob@example.com', firstName: 'Bob', lastName: 'Stone', displayName: 'Bob Stone',
  active: true, groups: ['staff'], roles: ['admin'], attributes: { dept: 'ops' }, ...over,
});

/** The Crowd defaults (roles) and an Entra that also owns first names and groups. */
const AUTHORITY: ApplyProcessorDeps['authority'] = {
  crowd: defaultAuthority('crowd'),
  entra: { ...defaultAuthority('entra'), firstName: 'target', groups: 'target' },
};

function world(users: AppUser[] = [], authority = AUTHORITY) {
  const directory = new RecordingDirectory(users);
  const audits: AuditEntry[] = [];
  const logs: unknown[][] = [];
  const audit = {
    async append(entry: AuditEntry) {
      audits.push(structuredClone(entry));
      return `${T0}-0`;
    },
  } as unknown as ApplyProcessorDeps['audit'];
  const logger = {
    info(fields: unknown, msg: string) {
      logs.push(['info', fields, msg]);
    },
  } as unknown as Logger;
  const process = createApplyProcessor({ directory, links, audit, logger, authority });
  return { directory, audits, logs, process };
}

const job = (data: Record<string, unknown>, over: { id?: string; name?: string; attemptsMade?: number } = {}) =>
  ({ id: 'job-1', name: 'apply-user', attemptsMade: 0, data: { schemaVersion: SCHEMA_VERSION, enqueuedAt: T0, ...data }, ...over }) as unknown as Job;

const audited = (over: Partial<AuditEntry> = {}): AuditEntry => ({
  time: T0, target: 'app', operation: 'pull', resource: 'user', subject: 'a1', status: 'succeeded', attempt: 1, durationMs: 0, jobId: 'job-1', changedAttributes: [], ...over,
});

const linked = (source: Target, appUserId: string, remote: RemoteUser) => links.update(source, appUserId, { remoteId: remote.remoteId, remoteName: remote.username });

/** The link as the processor leaves it after reading `remote`. */
const linkAfter = (target: Target, appUserId: string, remote: RemoteUser) => ({
  appUserId, target, remoteId: remote.remoteId, remoteName: remote.username, readHash: remoteHash(remote), updatedAt: T0,
});

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('a payload the contract refuses', () => {
  it('fails permanently, naming each bad field, before anything is read or written', async () => {
    const w = world([appUser('a1')]);
    const err = await rejection(w.process(job({ source: 'crowd', appUserId: 'a1', remote: { target: 'crowd', remoteId: '', username: 'bob' } })));
    expect(err).toBeInstanceOf(PermanentError);
    expect(isPermanentError(err)).toBe(true);
    expect(errorKind(err)).toBe('permanent');
    expect(err.message).toBe('invalid apply-user payload: remote.remoteId: Too small: expected string to have >=1 characters; remote.active: Invalid input: expected boolean, received undefined');
    expect(w.directory.calls).toStrictEqual([]);
    expect(w.audits).toStrictEqual([]);
    expect(w.logs).toStrictEqual([]);
  });

  it('names the root when the payload is not an object at all', async () => {
    const w = world();
    const err = await rejection(w.process({ id: 'job-1', name: 'apply-user', attemptsMade: 0, data: null } as unknown as Job));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toBe('invalid apply-user payload: (root): Invalid input: expected object, received null');
  });

  it('refuses an unknown source, action and a blank application username in one message', async () => {
    const w = world();
    const err = await rejection(w.process(job({ source: 'ldap', remote: null, action: 'delete', appUsername: '  ' })));
    expect(err.message).toBe('invalid apply-user payload: source: Invalid option: expected one of "crowd"|"entra"; action: Invalid option: expected one of "pull"|"update"|"import"|"disable"; appUsername: must not be empty');
  });

  it('refuses a job name the app queue does not have, with the contract\'s own message', async () => {
    const w = world();
    const err = await rejection(w.process(job({ source: 'crowd', remote: null }, { name: 'pull-user' })));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toBe('invalid pull-user payload: unknown job name "pull-user" on queue "app"');
    expect(w.audits).toStrictEqual([]);
  });
});

describe('disable', () => {
  it('deactivates the user the job names and audits the changed field; the link is not touched', async () => {
    const w = world([appUser('a1')]);
    const r = bob();
    await expect(w.process(job({ source: 'crowd', action: 'disable', appUserId: 'a1', remote: r }))).resolves.toStrictEqual({ outcome: 'applied', appUserId: 'a1', changed: ['active'] });
    expect(w.directory.calls).toStrictEqual([['apply', { id: 'a1', values: { active: false }, source: 'crowd' }]]);
    expect(w.directory.users.get('a1')?.active).toBe(false);
    expect(await links.get('crowd', 'a1')).toBeUndefined();
    expect(w.audits).toStrictEqual([audited({ operation: 'disable', changedAttributes: ['active'] })]);
    expect(w.logs).toStrictEqual([['info', { jobId: 'job-1', action: 'disable', source: 'crowd', appUserId: 'a1', changed: ['active'] }, 'pulled change succeeded']]);
  });

  it('skips a user already inactive, audited as skipped without an error', async () => {
    const w = world([appUser('a1', { active: false })]);
    await expect(w.process(job({ source: 'entra', action: 'disable', appUserId: 'a1', remote: null }))).resolves.toStrictEqual({ outcome: 'skipped', appUserId: 'a1', changed: [] });
    expect(w.directory.calls).toStrictEqual([['apply', { id: 'a1', values: { active: false }, source: 'entra' }]]);
    expect(w.audits).toStrictEqual([audited({ operation: 'disable', status: 'skipped' })]);
    expect(w.logs).toStrictEqual([['info', { jobId: 'job-1', action: 'disable', source: 'entra', appUserId: 'a1', changed: [] }, 'pulled change skipped']]);
  });

  it('finds the user through the remote user\'s link when the job names none', async () => {
    const w = world([appUser('a1'), appUser('a2')]);
    await linked('crowd', 'a2', bob());
    await expect(w.process(job({ source: 'crowd', action: 'disable', remote: bob() }))).resolves.toStrictEqual({ outcome: 'applied', appUserId: 'a2', changed: ['active'] });
    expect(w.directory.users.get('a1')?.active).toBe(true);
  });

  it('takes the job\'s application user over the link', async () => {
    const w = world([appUser('a1'), appUser('a2')]);
    await linked('crowd', 'a2', bob());
    await expect(w.process(job({ source: 'crowd', action: 'disable', appUserId: 'a1', remote: bob() }))).resolves.toMatchObject({ appUserId: 'a1' });
    expect(w.directory.users.get('a2')?.active).toBe(true);
  });

  it.each([
    ['no remote user', null],
    ['a remote user linked to nobody', bob()],
  ])('fails permanently without an application user id (%s)', async (_, remote) => {
    const w = world([appUser('a1')]);
    const err = await rejection(w.process(job({ source: 'crowd', action: 'disable', remote })));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toBe('an appDisable needs the application user id');
    expect(w.directory.calls).toStrictEqual([]);
    expect(w.audits).toStrictEqual([]);
  });

  it('looks the link up on the job\'s source, not the other target', async () => {
    const w = world([appUser('a1')]);
    await linked('entra', 'a1', bob());
    const err = await rejection(w.process(job({ source: 'crowd', action: 'disable', remote: bob() })));
    expect(err.message).toBe('an appDisable needs the application user id');
  });
});

describe('a remote user that is gone', () => {
  it.each(['pull', 'update', 'import'] as const)('is no reason to touch the application (%s): skipped with the reason', async (action) => {
    const w = world([appUser('a1')]);
    await expect(w.process(job({ source: 'entra', action, appUserId: 'a1', remote: null, fields: ['email'] })))
      .resolves.toStrictEqual({ outcome: 'skipped', appUserId: 'a1', changed: [], reason: 'the user no longer exists in entra' });
    expect(w.directory.calls).toStrictEqual([]);
    expect(w.directory.users.get('a1')).toStrictEqual(appUser('a1'));
    expect(await links.get('entra', 'a1')).toBeUndefined();
    expect(w.audits).toStrictEqual([audited({ operation: action, status: 'skipped', error: 'the user no longer exists in entra' })]);
  });

  it('without an application user id returns none and audits the subject as unknown', async () => {
    const w = world();
    await expect(w.process(job({ source: 'crowd', remote: null }))).resolves.toStrictEqual({ outcome: 'skipped', changed: [], reason: 'the user no longer exists in crowd' });
    expect(w.audits).toStrictEqual([audited({ subject: 'unknown', status: 'skipped', error: 'the user no longer exists in crowd' })]);
    expect(w.logs).toStrictEqual([['info', { jobId: 'job-1', action: 'pull', source: 'crowd', appUserId: undefined, changed: [] }, 'pulled change skipped']]);
  });
});

describe('pull: what the source is the authority for', () => {
  it('takes only the owned fields of the linked user (the default action), then records what was read on the link', async () => {
    const w = world([appUser('a1', { firstName: 'Old', lastName: 'Kept' })]);
    const r = bob({ target: 'entra', remoteId: 'e-bob', photo: { hash: 'h1', contentType: 'image/jpeg', data: PHOTO.toString('base64') } });
    await linked('entra', 'a1', r);
    await expect(w.process(job({ source: 'entra', remote: r }))).resolves.toStrictEqual({ outcome: 'applied', appUserId: 'a1', created: false, changed: ['firstName', 'groups', 'photo'] });
    expect(w.directory.calls).toStrictEqual([
      ['apply', { id: 'a1', values: { firstName: 'Bob', groups: ['staff'] }, source: 'entra', remoteId: 'e-bob' }],
      ['setPhoto', 'a1', { hash: 'h1', contentType: 'image/jpeg', data: PHOTO }],
    ]);
    expect(w.directory.users.get('a1')).toMatchObject({ firstName: 'Bob', lastName: 'Kept', groups: ['staff'], photoHash: 'h1' });
    expect(await links.get('entra', 'a1')).toStrictEqual(linkAfter('entra', 'a1', r));
    expect(w.audits).toStrictEqual([audited({ changedAttributes: ['firstName', 'groups', 'photo'] })]);
  });

  it('with only roles owned, replaces the roles without a profile write', async () => {
    const w = world([appUser('a1', { roles: ['member'] })]);
    // Crowd does not own the photo here, so bytes that came along are not stored.
    const r = bob({ photo: { hash: 'h', contentType: 'image/jpeg', data: 'AA==' } });
    await linked('crowd', 'a1', r);
    await expect(w.process(job({ source: 'crowd', action: 'pull', remote: r }))).resolves.toStrictEqual({ outcome: 'applied', appUserId: 'a1', created: false, changed: ['roles'] });
    expect(w.directory.calls).toStrictEqual([['setRoles', 'a1', ['admin']]]);
    expect(w.directory.users.get('a1')?.roles).toStrictEqual(['admin']);
  });

  it('clears an owned name the remote no longer has, and never clears groups or attributes it did not report', async () => {
    const authority = { ...AUTHORITY, crowd: { ...defaultAuthority('crowd'), firstName: 'target', groups: 'target', attributes: 'target', roles: 'app' } } as const;
    const w = world([appUser('a1', { firstName: 'Old', groups: ['g'], attributes: { k: 'v' } })], authority);
    const r = bob({ firstName: undefined, groups: undefined, attributes: undefined });
    await expect(w.process(job({ source: 'crowd', appUserId: 'a1', remote: r }))).resolves.toStrictEqual({ outcome: 'applied', appUserId: 'a1', created: false, changed: ['firstName'] });
    expect(w.directory.calls).toStrictEqual([['apply', { id: 'a1', values: { firstName: null }, source: 'crowd', remoteId: 'r-bob' }]]);
    expect(w.directory.users.get('a1')).toStrictEqual(appUser('a1', { groups: ['g'], attributes: { k: 'v' }, version: T0 }));
  });

  it('when the source owns nothing, writes nothing but still records the read on the link', async () => {
    const w = world([appUser('a1')], { ...AUTHORITY, crowd: { ...defaultAuthority('crowd'), roles: 'app' } });
    await linked('crowd', 'a1', bob());
    await expect(w.process(job({ source: 'crowd', remote: bob() }))).resolves.toStrictEqual({ outcome: 'skipped', appUserId: 'a1', created: false, changed: [] });
    expect(w.directory.calls).toStrictEqual([]);
    expect(await links.get('crowd', 'a1')).toStrictEqual(linkAfter('crowd', 'a1', bob()));
    expect(w.audits).toStrictEqual([audited({ status: 'skipped' })]);
  });

  it('leaves roles alone when the remote reported none, and the photo when its bytes did not travel', async () => {
    const w = world([appUser('a1', { roles: ['member'] })], { ...AUTHORITY, crowd: { ...defaultAuthority('crowd'), photo: 'target' } });
    for (const photo of [undefined, { hash: 'same', contentType: 'image/png' }]) {
      await expect(w.process(job({ source: 'crowd', appUserId: 'a1', remote: bob({ roles: undefined, photo }) }))).resolves.toStrictEqual({ outcome: 'skipped', appUserId: 'a1', created: false, changed: [] });
    }
    expect(w.directory.calls).toStrictEqual([]);
    expect(w.directory.users.get('a1')?.roles).toStrictEqual(['member']);
  });

  it('removes the application\'s photo when the target has none any more', async () => {
    const w = world([appUser('a1', { photoHash: 'old' })]);
    await expect(w.process(job({ source: 'entra', appUserId: 'a1', remote: bob({ target: 'entra', firstName: undefined, groups: undefined, photo: null }) })))
      .resolves.toStrictEqual({ outcome: 'applied', appUserId: 'a1', created: false, changed: ['photo'] });
    expect(w.directory.calls).toStrictEqual([['apply', { id: 'a1', values: { firstName: null }, source: 'entra', remoteId: 'r-bob' }], ['setPhoto', 'a1', null]]);
    expect(w.directory.users.get('a1')?.photoHash).toBeUndefined();
  });

  it.each([
    ['roles', 'crowd', bob(), ['setRoles', 'a9', ['admin']]],
    ['photo', 'entra', bob({ target: 'entra', photo: { hash: 'h', contentType: 'image/jpeg', data: 'AA==' } }), ['setPhoto', 'a9', { hash: 'h', contentType: 'image/jpeg', data: Buffer.from([0]) }]],
  ] as const)('fails permanently when the application user is gone by the time its %s are set; nothing is linked or audited', async (_, source, r, call) => {
    // Each target owns only that field here, so the roles / photo write is the first that tells.
    const w = world([], { crowd: defaultAuthority('crowd'), entra: defaultAuthority('entra') });
    const err = await rejection(w.process(job({ source, appUserId: 'a9', remote: r })));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toBe('application user a9 does not exist');
    expect(w.directory.calls).toStrictEqual([call]);
    expect(await links.get(source, 'a9')).toBeUndefined();
    expect(w.audits).toStrictEqual([]);
  });

  it.each(['pull', 'update'] as const)('skips a %s of a remote user linked to no application user, writing nothing', async (action) => {
    const w = world([appUser('a1', { username: 'bob' })]);
    await expect(w.process(job({ source: 'crowd', action, remote: bob(), fields: ['email'] }))).resolves.toStrictEqual({
      outcome: 'skipped', changed: [], reason: 'the crowd user bob is linked to no application user (a full sync or an import links it)',
    });
    expect(w.directory.calls).toStrictEqual([]);
    expect(await links.findByRemoteId('crowd', 'r-bob')).toBeUndefined();
    expect(w.audits).toStrictEqual([audited({ operation: action, subject: 'bob', status: 'skipped', error: 'the crowd user bob is linked to no application user (a full sync or an import links it)' })]);
  });
});

describe('update: the plan\'s fields', () => {
  it('takes exactly the job\'s fields whatever the authority says, the username as the naming rule maps it back', async () => {
    const w = world([appUser('a1', { username: 'robert', lastName: 'Old', roles: ['member'] })]);
    await linked('crowd', 'a1', bob());
    await expect(w.process(job({ source: 'crowd', action: 'update', remote: bob(), fields: ['username', 'email', 'lastName'], appUsername: 'bobby' })))
      .resolves.toStrictEqual({ outcome: 'applied', appUserId: 'a1', created: false, changed: ['username', 'email', 'lastName'] });
    expect(w.directory.calls).toStrictEqual([['apply', { id: 'a1', values: { username: 'bobby', email: 'bob@example.com', lastName: 'Stone' }, source: 'crowd', remoteId: 'r-bob' }]]);
    // Crowd owns the roles, but an update takes only what it names.
    expect(w.directory.users.get('a1')?.roles).toStrictEqual(['member']);
    expect(await links.get('crowd', 'a1')).toStrictEqual(linkAfter('crowd', 'a1', bob()));
    expect(w.audits).toStrictEqual([audited({ operation: 'update', changedAttributes: ['username', 'email', 'lastName'] })]);
  });

  it('takes the username as the remote has it when no naming rule maps it back', async () => {
    const w = world([appUser('a1')]);
    await expect(w.process(job({ source: 'crowd', action: 'update', appUserId: 'a1', remote: bob(), fields: ['username'] }))).resolves.toMatchObject({ changed: ['username'] });
    expect(w.directory.users.get('a1')?.username).toBe('bob');
  });

  it('without fields takes nothing, yet records the read on the link', async () => {
    const w = world([appUser('a1')]);
    await expect(w.process(job({ source: 'crowd', action: 'update', appUserId: 'a1', remote: bob() }))).resolves.toStrictEqual({ outcome: 'skipped', appUserId: 'a1', created: false, changed: [] });
    expect(w.directory.calls).toStrictEqual([]);
    expect(await links.get('crowd', 'a1')).toStrictEqual(linkAfter('crowd', 'a1', bob()));
  });

  it('sets roles and the photo when the plan names them', async () => {
    const w = world([appUser('a1')]);
    const r = bob({ photo: { hash: 'h2', contentType: 'image/png', data: PHOTO.toString('base64') } });
    await expect(w.process(job({ source: 'crowd', action: 'update', appUserId: 'a1', remote: r, fields: ['photo', 'roles'] })))
      .resolves.toStrictEqual({ outcome: 'applied', appUserId: 'a1', created: false, changed: ['roles', 'photo'] });
    expect(w.directory.calls).toStrictEqual([['setRoles', 'a1', ['admin']], ['setPhoto', 'a1', { hash: 'h2', contentType: 'image/png', data: PHOTO }]]);
  });
});

describe('import', () => {
  it('creates the user from every field the remote has, sets its roles and photo, links it and audits it under the new id', async () => {
    const w = world([appUser('a1')]);
    const r = bob({ photo: { hash: 'h3', contentType: 'image/jpeg', data: PHOTO.toString('base64') } });
    const result = await w.process(job({ source: 'crowd', action: 'import', remote: r, appUsername: 'bob.stone' }));
    const id = [...w.directory.users.keys()].find((k) => k !== 'a1')!;
    // The in-memory directory creates with username, e-mail and active set, so those are not "changed".
    const changed = ['firstName', 'lastName', 'displayName', 'groups', 'attributes', 'roles', 'photo'];
    expect(result).toStrictEqual({ outcome: 'applied', appUserId: id, created: true, changed });
    expect(w.directory.calls).toStrictEqual([
      ['apply', {
        values: { username: 'bob.stone', email: 'bob@example.com', firstName: 'Bob', lastName: 'Stone', displayName: 'Bob Stone', active: true, groups: ['staff'], attributes: { dept: 'ops' } },
        source: 'crowd', remoteId: 'r-bob',
      }],
      ['setRoles', id, ['admin']],
      ['setPhoto', id, { hash: 'h3', contentType: 'image/jpeg', data: PHOTO }],
    ]);
    // The link keeps the remote's own name, not the application's.
    expect(await links.get('crowd', id)).toStrictEqual(linkAfter('crowd', id, r));
    expect(await links.findByRemoteId('crowd', 'r-bob')).toBe(id);
    expect(w.audits).toStrictEqual([audited({ operation: 'import', subject: id, changedAttributes: changed })]);
  });

  it('adopts the user with the same username, case-insensitively, instead of creating a second one', async () => {
    const w = world([appUser('a1', { username: 'BOB', email: 'other@example.com', firstName: 'Bob', lastName: 'Stone', displayName: 'Bob Stone', groups: ['staff'], attributes: { dept: 'ops' }, roles: ['admin'] }), appUser('a2', { email: 'bob@example.com' })]);
    await expect(w.process(job({ source: 'crowd', action: 'import', remote: bob() }))).resolves.toStrictEqual({ outcome: 'applied', appUserId: 'a1', created: false, changed: ['username', 'email', 'roles'] });
    expect(w.directory.users.size).toBe(2);
    expect(await links.findByRemoteId('crowd', 'r-bob')).toBe('a1');
  });

  it('adopts the user with the same e-mail when no username matches', async () => {
    const w = world([appUser('a1'), appUser('a2', { username: 'robert', email: 'bob@example.com' })]);
    await expect(w.process(job({ source: 'crowd', action: 'import', remote: bob({ roles: undefined, groups: undefined, attributes: undefined }) })))
      .resolves.toStrictEqual({ outcome: 'applied', appUserId: 'a2', created: false, changed: ['username', 'firstName', 'lastName', 'displayName'] });
    expect(w.directory.users.size).toBe(2);
  });

  it('updates the linked user of an already linked remote user rather than matching one by name', async () => {
    const w = world([appUser('a1', { username: 'bob' }), appUser('a2')]);
    await linked('crowd', 'a2', bob());
    await expect(w.process(job({ source: 'crowd', action: 'import', remote: bob({ roles: undefined }) }))).resolves.toMatchObject({ appUserId: 'a2', created: false });
    expect(w.directory.calls[0]).toStrictEqual(['apply', { id: 'a2', values: expect.objectContaining({ username: 'bob' }), source: 'crowd', remoteId: 'r-bob' }]);
    expect(w.directory.users.get('a1')).toStrictEqual(appUser('a1', { username: 'bob' }));
  });

  it('of a user that already matches in every field is skipped, yet linked', async () => {
    const same = appUser('a1', { username: 'bob', email: 'bob@example.com', firstName: 'Bob', lastName: 'Stone', displayName: 'Bob Stone', groups: ['staff'], attributes: { dept: 'ops' } });
    const w = world([same]);
    const r = bob({ roles: undefined });
    await expect(w.process(job({ source: 'crowd', action: 'import', appUserId: 'a1', remote: r }))).resolves.toStrictEqual({ outcome: 'skipped', appUserId: 'a1', created: false, changed: [] });
    expect(await links.get('crowd', 'a1')).toStrictEqual(linkAfter('crowd', 'a1', r));
    expect(w.audits).toStrictEqual([audited({ operation: 'import', status: 'skipped' })]);
  });

  it('reports a creation as applied even when the directory lists no changed field', async () => {
    // The in-memory directory creates with username, e-mail and active set, so this import changes nothing more.
    const w = world();
    const result = await w.process(job({ source: 'crowd', action: 'import', remote: { target: 'crowd', remoteId: 'r-x', username: 'x', email: 'x@example.com', active: true } }));
    expect(result).toStrictEqual({ outcome: 'applied', appUserId: [...w.directory.users.keys()][0], created: true, changed: [] });
  });

  it('files the change under the job\'s source, whatever target the remote user names', async () => {
    const w = world();
    const r = bob({ target: 'entra', roles: undefined });
    const { appUserId } = await w.process(job({ source: 'crowd', action: 'import', remote: r }));
    expect(w.directory.calls[0]).toStrictEqual(['apply', expect.objectContaining({ source: 'crowd' })]);
    expect(await links.findByRemoteId('crowd', 'r-bob')).toBe(appUserId);
    expect(await links.findByRemoteId('entra', 'r-bob')).toBeUndefined();
  });

  it('gives an Entra user without mail its UPN as e-mail, clears absent names and leaves unreported groups out', async () => {
    const w = world();
    const r: RemoteUser = { target: 'entra', remoteId: 'e-eve', username: 'eve@contoso.com', active: false };
    await w.process(job({ source: 'entra', action: 'import', remote: r, appUsername: 'eve' }));
    expect(w.directory.calls).toStrictEqual([['apply', { values: { username: 'eve', email: 'eve@contoso.com', firstName: null, lastName: null, displayName: null, active: false }, source: 'entra', remoteId: 'e-eve' }]]);
  });

  it('leaves the e-mail out when the remote has none and its name is no address', async () => {
    const w = world();
    await w.process(job({ source: 'crowd', action: 'import', remote: { target: 'crowd', remoteId: 'r-x', username: 'x', active: true } }));
    expect(w.directory.calls).toStrictEqual([['apply', { values: { username: 'x', firstName: null, lastName: null, displayName: null, active: true }, source: 'crowd', remoteId: 'r-x' }]]);
  });

  it.each([
    ['a conflict the application refuses', new PermanentError('e-mail bob@example.com belongs to another user', { code: 'conflict', status: 409 })],
    ['an application that is briefly unreachable', new TransientError('connection reset')],
  ])('passes %s through as thrown, linking and auditing nothing', async (_, thrown) => {
    const w = world();
    w.directory.before = () => {
      throw thrown;
    };
    await expect(w.process(job({ source: 'crowd', action: 'import', remote: bob() }))).rejects.toBe(thrown);
    expect(await links.findByRemoteId('crowd', 'r-bob')).toBeUndefined();
    expect(w.audits).toStrictEqual([]);
    expect(w.logs).toStrictEqual([]);
  });
});

describe('signals, attempts and the audit entry', () => {
  it('hands the job\'s abort signal to every directory call', async () => {
    const w = world([appUser('a1')]);
    const signal = new AbortController().signal;
    const r = bob({ photo: { hash: 'h', contentType: 'image/jpeg', data: 'AA==' } });
    await w.process(job({ source: 'crowd', action: 'update', appUserId: 'a1', remote: r, fields: ['email', 'roles', 'photo'] }), 'token', signal);
    expect(w.directory.signals).toHaveLength(3);
    for (const s of w.directory.signals) expect(s).toBe(signal);
  });

  it('without a signal, gives the directory one that is not aborted', async () => {
    const w = world([appUser('a1')]);
    await w.process(job({ source: 'crowd', action: 'disable', appUserId: 'a1', remote: null }));
    expect(w.directory.signals).toHaveLength(1);
    expect(w.directory.signals[0]).toBeInstanceOf(AbortSignal);
    expect(w.directory.signals[0]!.aborted).toBe(false);
  });

  it('stops where the aborted directory call stops: the error is the abort\'s, nothing is linked', async () => {
    const w = world([appUser('a1')]);
    const stop = new AbortController();
    const reason = new Error('worker shutting down');
    w.directory.before = (method) => {
      if (method === 'setRoles') {
        stop.abort(reason);
        throw stop.signal.reason;
      }
    };
    await expect(w.process(job({ source: 'crowd', action: 'import', appUserId: 'a1', remote: bob() }), undefined, stop.signal)).rejects.toBe(reason);
    expect(w.directory.calls.map((c) => c[0])).toStrictEqual(['apply', 'setRoles']);
    expect(await links.get('crowd', 'a1')).toBeUndefined();
    expect(w.audits).toStrictEqual([]);
  });

  it('audits the attempt, the time it finished and how long the job took', async () => {
    const w = world([appUser('a1')]);
    w.directory.before = () => jest.setSystemTime(T0 + 250);
    await w.process(job({ source: 'crowd', action: 'disable', appUserId: 'a1', remote: null }, { id: 'job-7', attemptsMade: 2 }));
    expect(w.audits).toStrictEqual([audited({ time: T0 + 250, durationMs: 250, attempt: 3, jobId: 'job-7', operation: 'disable', changedAttributes: ['active'] })]);
    expect(w.logs).toStrictEqual([['info', { jobId: 'job-7', action: 'disable', source: 'crowd', appUserId: 'a1', changed: ['active'] }, 'pulled change succeeded']]);
  });
});
