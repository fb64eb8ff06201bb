// One incremental pull of one target, driven through its dependencies: the change feed, the
// links, the application directory, the queues and their trackers and progress are stand-ins
// that record every call in one log; the bookmark lives on real Redis under a prefix of the
// test's own. What is pinned: what each kind of change turns into (an application update, a
// put-back push, an application disable, an echo, an unlinked user, nothing), the counts the
// round returns, which side's authority decides, the bookmark a round reads and moves, and
// that a round cut short enqueues nothing it had not enqueued and leaves the bookmark alone.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { Redis } from 'ioredis';
import { defaultAuthority, type Authority, type SyncConfig } from '../../../shared/config.js';
import type { AppField, RemoteUser, Target, UserSnapshot } from '../../../shared/jobs.js';
import { remoteHash, type Link, type LinkStore } from '../../../shared/links.js';
import type { Logger } from '../../../shared/logger.js';
import type { AppUser, UserDirectory } from '../../../workers/app/directory.js';
import type { RemoteChange, SyncConnector } from '../../../workers/runtime/connector.js';
import { advanceBookmark, bookmarkKey, pullChanges, type IncrementalDeps, type IncrementalResult } from '../../../workers/sync/incremental.js';
import type { ProgressReporter } from '../../../workers/sync/progress.js';
import type { SyncQueues } from '../../../workers/sync/queues.js';
import { fixDate } from '../../helpers/clock.js';
import { deletePrefix, uniquePrefix, workerRedis } from '../../helpers/redis.js';

const T0 = Date.UTC(2026, 5, 1, 12);

let redis: Redis;
let prefix: string;

beforeAll(() => {
  redis = workerRedis();
});
afterAll(async () => {
  await redis.quit();
});
beforeEach(() => {
  fixDate(T0);
  prefix = uniquePrefix('incremental-run');
});
afterEach(async () => {
  jest.useRealTimers();
  await deletePrefix(redis, prefix);
});

type Expected = Omit<RemoteUser, 'remoteId'>;
type Snapshot = UserSnapshot & { version: number };

const app = (id: string, over: Partial<AppUser> = {}): AppUser => ({
  id, username: id, email: `${id}@example.com`, firstName: 'First', lastName: 'Last', active: true, version: 7, ...over,
});
/** The push snapshot of `app(id, over)`, as the application row gives it. */
const snap = (id: string, over: Partial<Snapshot> = {}): Snapshot => ({
  id, username: id, email: `${id}@example.com`, firstName: 'First', lastName: 'Last', displayName: undefined, active: true, version: 7, ...over,
});
const remote = (remoteId: string, appId: string, over: Partial<RemoteUser> = {}): RemoteUser => ({
  target: 'crowd', remoteId, username: appId, email: `${appId}@example.com`, firstName: 'First', lastName: 'Last', active: true, ...over,
});
const upsert = (user: RemoteUser): RemoteChange => ({ type: 'upsert', user });
const result = (over: Partial<IncrementalResult> = {}): IncrementalResult => ({
  target: 'crowd', changes: 0, echoes: 0, appUpdates: 0, reverted: 0, appDisables: 0, unlinked: 0, ...over,
});

/** What a push of the snapshot would leave on the target. */
const plainMapping = (s: Snapshot, target: Target): Expected => ({
  target, username: s.username, email: s.email, active: s.active,
  ...(s.firstName !== undefined && { firstName: s.firstName ?? '' }),
  ...(s.lastName !== undefined && { lastName: s.lastName ?? '' }),
  ...(s.displayName !== undefined && { displayName: s.displayName ?? '' }),
});

interface Setup {
  target?: Target;
  changes?: RemoteChange[];
  /** Thrown by the feed after every change in `changes`. */
  feedError?: Error;
  /** Runs when the feed is first read. */
  onFeed?: () => void;
  /** Runs when the round asks for the change after the `i`-th, i.e. once that one is handled. */
  afterChange?: (i: number) => void;
  apps?: AppUser[];
  /** remoteId → appUserId, as the reverse index has them. */
  linked?: Record<string, string>;
  /** appUserId → the link's read hash; a linked user not named here has no link record. */
  readHash?: Record<string, string>;
  authority?: Partial<Record<AppField, Authority>>;
  appUsername?: (r: RemoteUser) => string;
  /** Thrown from every tracker wait. */
  waitError?: Error;
  /** Thrown by the application directory's read of this one user. */
  getError?: { id: string; error: Error };
  abortSignal?: AbortSignal;
}

function world(s: Setup = {}) {
  const target = s.target ?? 'crowd';
  const other: Target = target === 'crowd' ? 'entra' : 'crowd';
  const log: unknown[][] = [];
  const signal = s.abortSignal ?? new AbortController().signal;
  const apps = new Map((s.apps ?? []).map((u) => [u.id, u]));
  let seq = 0;
  const ids = (p: string, n: number) => Array.from({ length: n }, () => `${p}${seq++}`);
  const connector = {
    target,
    async *listChanges(options: { since: Date | undefined; abortSignal?: AbortSignal }) {
      log.push(['listChanges', { since: options.since, abortSignal: options.abortSignal === signal }]);
      s.onFeed?.();
      for (const [i, c] of (s.changes ?? []).entries()) {
        signal.throwIfAborted();
        yield structuredClone(c);
        s.afterChange?.(i);
      }
      signal.throwIfAborted();
      if (s.feedError) throw s.feedError;
    },
    async expectedRemote(snapshot: Snapshot, options: { abortSignal?: AbortSignal }) {
      log.push(['expectedRemote', structuredClone(snapshot), options.abortSignal === signal]);
      return plainMapping(snapshot, target);
    },
    async appUsername(r: RemoteUser, options: { abortSignal?: AbortSignal }) {
      log.push(['appUsername', r.remoteId, options.abortSignal === signal]);
      return (s.appUsername ?? ((x: RemoteUser) => x.username))(r);
    },
  } as unknown as SyncConnector;
  const links = {
    async findByRemoteId(t: Target, remoteId: string) {
      log.push(['links.findByRemoteId', t, remoteId]);
      return s.linked?.[remoteId];
    },
    async get(t: Target, appUserId: string): Promise<Link | undefined> {
      log.push(['links.get', t, appUserId]);
      const readHash = s.readHash?.[appUserId];
      return readHash === undefined ? undefined : { target: t, appUserId, remoteId: 'whatever', readHash };
    },
    async update(t: Target, appUserId: string, update: unknown) {
      log.push(['links.update', t, appUserId, update]);
    },
  } as unknown as LinkStore;
  const directory = {
    async get(id: string, options: { abortSignal?: AbortSignal }) {
      log.push(['directory.get', id, options.abortSignal === signal]);
      if (s.getError?.id === id) throw s.getError.error;
      return structuredClone(apps.get(id) ?? null);
    },
  } as unknown as UserDirectory;
  const queues = {
    async pushUpserts(t: Target, users: Snapshot[], origin: string) {
      log.push(['pushUpserts', t, structuredClone(users), origin]);
      return ids('u', users.length);
    },
    async applies(changes: unknown[]) {
      log.push(['applies', structuredClone(changes)]);
      return ids('a', changes.length);
    },
    async get(name: Target | 'app') {
      return {
        tracker: {
          async wait(jobIds: string[], onSettled: unknown, options: { abortSignal?: AbortSignal }) {
            log.push(['wait', name, [...jobIds], options.abortSignal === signal]);
            if (s.waitError) throw s.waitError;
            return { succeeded: jobIds.length, skipped: 0, failed: 0 };
          },
        },
      };
    },
  } as unknown as SyncQueues;
  const progress = {
    async phase(...args: unknown[]) {
      log.push(['phase', ...args]);
    },
    async add(n: number) {
      log.push(['add', n]);
    },
  } as unknown as ProgressReporter;
  const record = (level: string) => (...args: unknown[]) => log.push([level, ...args]);
  const logger = { info: record('info'), warn: record('warn'), error: record('error'), debug: record('debug') } as unknown as Logger;
  // The other target owns everything: reading its authority instead would change every result.
  const everything = Object.fromEntries(Object.keys(defaultAuthority(target)).map((f) => [f, 'target'])) as Record<AppField, Authority>;
  const sync: SyncConfig = {
    deleteThreshold: 10,
    deleteThresholdPercent: 10,
    matchAttributes: ['username', 'email'],
    importUnmatched: false,
    authority: { [target]: { ...defaultAuthority(target), ...s.authority }, [other]: everything } as SyncConfig['authority'],
    fullSchedule: undefined,
    incrementalSchedule: undefined,
    timezone: 'UTC',
  };
  const deps: IncrementalDeps = { redis, prefix, target, connector, directory, links, queues, sync, progress, logger, abortSignal: signal };
  const of = (...kinds: string[]) => log.filter((l) => kinds.includes(l[0] as string));
  return { deps, log, of };
}

const bookmark = async (target: Target = 'crowd') => redis.get(bookmarkKey(prefix, target));
const START = [['phase', 'planning', undefined, 'crowd'], ['listChanges', { since: undefined, abortSignal: true }]];

describe('pullChanges: a linked user that changed', () => {
  it('hands the application what the target owns, and pushes nothing when the rest agrees', async () => {
    const r = remote('r1', 'a1', { lastName: 'New' });
    const { deps, log } = world({ changes: [upsert(r)], apps: [app('a1', { lastName: 'Old' })], linked: { r1: 'a1' }, readHash: { a1: 'stale' }, authority: { lastName: 'target' } });
    expect(await pullChanges(deps)).toStrictEqual(result({ changes: 1, appUpdates: 1 }));
    expect(log).toStrictEqual([
      ...START,
      ['add', 1],
      ['links.findByRemoteId', 'crowd', 'r1'],
      ['links.get', 'crowd', 'a1'],
      ['directory.get', 'a1', true],
      // What a push would write keeps the target's own last name.
      ['expectedRemote', snap('a1', { lastName: 'New' }), true],
      ['applies', [{ source: 'crowd', action: 'update', appUserId: 'a1', remote: r, fields: ['lastName'] }]],
      ['wait', 'app', ['a0'], true],
    ]);
  });

  it('puts back an application-owned attribute edited on the target, and remembers what it read', async () => {
    const r = remote('r1', 'a1', { firstName: 'Mallory' });
    const { deps, log } = world({ changes: [upsert(r)], apps: [app('a1', { firstName: 'Alice' })], linked: { r1: 'a1' }, readHash: { a1: 'stale' } });
    expect(await pullChanges(deps)).toStrictEqual(result({ changes: 1, reverted: 1 }));
    expect(log).toStrictEqual([
      ...START,
      ['add', 1],
      ['links.findByRemoteId', 'crowd', 'r1'],
      ['links.get', 'crowd', 'a1'],
      ['directory.get', 'a1', true],
      // Nothing for the app: the next round sees this read again as an echo.
      ['links.update', 'crowd', 'a1', { readHash: remoteHash(r) }],
      ['expectedRemote', snap('a1', { firstName: 'Alice' }), true],
      ['pushUpserts', 'crowd', [snap('a1', { firstName: 'Alice' })], 'sync'],
      ['wait', 'crowd', ['u0'], true],
    ]);
  });

  it('does both for one user, enqueueing the application updates first and waiting for them first', async () => {
    const r = remote('r1', 'a1', { firstName: 'Mallory', lastName: 'New' });
    const { deps, of } = world({ changes: [upsert(r)], apps: [app('a1', { firstName: 'Alice', lastName: 'Old' })], linked: { r1: 'a1' }, authority: { lastName: 'target' } });
    expect(await pullChanges(deps)).toStrictEqual(result({ changes: 1, appUpdates: 1, reverted: 1 }));
    expect(of('applies', 'pushUpserts', 'wait', 'links.update')).toStrictEqual([
      ['applies', [{ source: 'crowd', action: 'update', appUserId: 'a1', remote: r, fields: ['lastName'] }]],
      // The application's own row goes out: the push takes the target's fields itself.
      ['pushUpserts', 'crowd', [snap('a1', { firstName: 'Alice', lastName: 'Old' })], 'sync'],
      ['wait', 'app', ['a0'], true],
      ['wait', 'crowd', ['u1'], true],
    ]);
  });

  it('enqueues every user of the round in one batch per queue', async () => {
    const changes = ['a1', 'b1', 'c1'].map((id) => upsert(remote(`r-${id}`, id, { firstName: 'Remote', lastName: `New-${id}` })));
    const { deps, of } = world({
      changes, apps: ['a1', 'b1', 'c1'].map((id) => app(id)), linked: { 'r-a1': 'a1', 'r-b1': 'b1', 'r-c1': 'c1' }, authority: { lastName: 'target' },
    });
    expect(await pullChanges(deps)).toStrictEqual(result({ changes: 3, appUpdates: 3, reverted: 3 }));
    expect(of('applies', 'pushUpserts', 'wait', 'add')).toStrictEqual([
      ['add', 1],
      ['add', 1],
      ['add', 1],
      ['applies', changes.map((c) => ({ source: 'crowd', action: 'update', appUserId: (c as { user: RemoteUser }).user.username, remote: (c as { user: RemoteUser }).user, fields: ['lastName'] }))],
      ['pushUpserts', 'crowd', [snap('a1'), snap('b1'), snap('c1')], 'sync'],
      ['wait', 'app', ['a0', 'a1', 'a2'], true],
      ['wait', 'crowd', ['u3', 'u4', 'u5'], true],
    ]);
  });

  it('asks the connector for the application username when the target owns it', async () => {
    const r = remote('r1', 'a1', { username: 'alicia@corp.example' });
    const { deps, log } = world({
      changes: [upsert(r)], apps: [app('a1', { username: 'alice' })], linked: { r1: 'a1' }, authority: { username: 'target' },
      appUsername: (x) => x.username.split('@')[0]!,
    });
    expect(await pullChanges(deps)).toStrictEqual(result({ changes: 1, appUpdates: 1 }));
    expect(log.slice(START.length + 4, START.length + 6)).toStrictEqual([
      ['appUsername', 'r1', true],
      ['expectedRemote', snap('a1', { username: 'alicia' }), true],
    ]);
    // The change carries the mapped username, as a full sync's appUpdate does: without it the
    // application would take the remote's ("alicia@corp.example") and each full sync put it back.
    expect(log.slice(START.length + 6)).toStrictEqual([
      ['applies', [{ source: 'crowd', action: 'update', appUserId: 'a1', remote: r, fields: ['username'], appUsername: 'alicia' }]],
      ['wait', 'app', ['a0'], true],
    ]);
  });

  it('takes a username the naming rule maps back to the application\'s as no change', async () => {
    const r = remote('r1', 'a1', { username: 'alice@corp.example' });
    const { deps, of } = world({
      changes: [upsert(r)], apps: [app('a1', { username: 'alice' })], linked: { r1: 'a1' }, authority: { username: 'target' },
      appUsername: (x) => x.username.split('@')[0]!,
    });
    expect(await pullChanges(deps)).toStrictEqual(result({ changes: 1 }));
    expect(of('links.update', 'applies', 'pushUpserts')).toStrictEqual([['links.update', 'crowd', 'a1', { readHash: remoteHash(r) }]]);
  });

  it('takes what the target owns from a row it cannot push, and puts nothing back', async () => {
    const r = remote('r1', 'a1', { firstName: 'Mallory', lastName: 'New' });
    const { deps, of } = world({ changes: [upsert(r)], apps: [app('a1', { email: 'not-an-address' })], linked: { r1: 'a1' }, authority: { lastName: 'target' } });
    expect(await pullChanges(deps)).toStrictEqual(result({ changes: 1, appUpdates: 1 }));
    expect(of('expectedRemote', 'applies', 'pushUpserts')).toStrictEqual([
      ['applies', [{ source: 'crowd', action: 'update', appUserId: 'a1', remote: r, fields: ['lastName'] }]],
    ]);
  });

  it('remembers the read of a user that agrees on both sides, and enqueues nothing', async () => {
    const r = remote('r1', 'a1');
    const { deps, log } = world({ changes: [upsert(r)], apps: [app('a1')], linked: { r1: 'a1' }, readHash: { a1: 'stale' } });
    expect(await pullChanges(deps)).toStrictEqual(result({ changes: 1 }));
    expect(log.slice(START.length + 4)).toStrictEqual([
      ['links.update', 'crowd', 'a1', { readHash: remoteHash(r) }],
      ['expectedRemote', snap('a1'), true],
    ]);
    expect(await bookmark()).toBe(String(T0));
  });
});

describe('pullChanges: what is not acted on', () => {
  it('counts a user read as idsync last applied it as an echo, and reads nothing more', async () => {
    const r = remote('r1', 'a1', { firstName: 'Mallory' });
    const { deps, log } = world({ changes: [upsert(r)], apps: [app('a1')], linked: { r1: 'a1' }, readHash: { a1: remoteHash(r) } });
    expect(await pullChanges(deps)).toStrictEqual(result({ changes: 1, echoes: 1 }));
    expect(log).toStrictEqual([...START, ['add', 1], ['links.findByRemoteId', 'crowd', 'r1'], ['links.get', 'crowd', 'a1']]);
  });

  it('takes a linked user without a recorded read as changed', async () => {
    const r = remote('r1', 'a1', { firstName: 'Mallory' });
    const { deps, of } = world({ changes: [upsert(r)], apps: [app('a1')], linked: { r1: 'a1' } });
    expect(await pullChanges(deps)).toStrictEqual(result({ changes: 1, reverted: 1 }));
    expect(of('directory.get')).toStrictEqual([['directory.get', 'a1', true]]);
  });

  it('leaves a user that is not linked for the next full sync', async () => {
    const { deps, log } = world({ changes: [upsert(remote('r1', 'a1'))], apps: [app('a1')] });
    expect(await pullChanges(deps)).toStrictEqual(result({ changes: 1, unlinked: 1 }));
    expect(log).toStrictEqual([...START, ['add', 1], ['links.findByRemoteId', 'crowd', 'r1']]);
    expect(await bookmark()).toBe(String(T0));
  });

  it('does nothing for a linked user the application no longer has', async () => {
    const { deps, log } = world({ changes: [upsert(remote('r1', 'a1', { firstName: 'Mallory' }))], linked: { r1: 'a1' } });
    expect(await pullChanges(deps)).toStrictEqual(result({ changes: 1 }));
    expect(log).toStrictEqual([...START, ['add', 1], ['links.findByRemoteId', 'crowd', 'r1'], ['links.get', 'crowd', 'a1'], ['directory.get', 'a1', true]]);
  });

  it('skips the marker of a fresh round without counting it', async () => {
    const { deps, log } = world({ changes: [{ type: 'resync', reason: 'the delta token expired' }, upsert(remote('r1', 'a1'))] });
    expect(await pullChanges(deps)).toStrictEqual(result({ changes: 1, unlinked: 1 }));
    expect(log).toStrictEqual([...START, ['add', 1], ['links.findByRemoteId', 'crowd', 'r1']]);
  });

  it('does nothing, and enqueues nothing, for a round without changes', async () => {
    const { deps, log } = world();
    expect(await pullChanges(deps)).toStrictEqual(result());
    expect(log).toStrictEqual(START);
  });
});

describe('pullChanges: users gone from the target', () => {
  const removed = (remoteId: string, reason: 'changed' | 'deleted'): RemoteChange => ({ type: 'removed', remoteId, reason });

  it('disables in the application a linked user deleted on a target that owns the lifecycle, and nothing else', async () => {
    const { deps, log } = world({
      changes: [removed('r1', 'deleted'), removed('r2', 'changed'), removed('r3', 'deleted')],
      linked: { r1: 'a1', r2: 'a2' }, authority: { active: 'target' },
    });
    // A user out of scope ("changed") may still exist: absence is not deletion.
    expect(await pullChanges(deps)).toStrictEqual(result({ changes: 3, appDisables: 1 }));
    expect(log).toStrictEqual([
      ...START,
      ['add', 1],
      ['links.findByRemoteId', 'crowd', 'r1'],
      ['add', 1],
      ['links.findByRemoteId', 'crowd', 'r2'],
      ['add', 1],
      ['links.findByRemoteId', 'crowd', 'r3'],
      ['applies', [{ source: 'crowd', action: 'disable', appUserId: 'a1', remote: null }]],
      ['wait', 'app', ['a0'], true],
    ]);
  });

  it('leaves the application user alone when the application owns the lifecycle', async () => {
    const { deps, log } = world({ changes: [removed('r1', 'deleted')], linked: { r1: 'a1' } });
    expect(await pullChanges(deps)).toStrictEqual(result({ changes: 1 }));
    expect(log).toStrictEqual([...START, ['add', 1], ['links.findByRemoteId', 'crowd', 'r1']]);
  });
});

describe('pullChanges: the bookmark', () => {
  it('reads from the beginning the first time, then keeps when the round started', async () => {
    // The round takes five seconds: the bookmark is when it started, so nothing changed meanwhile is skipped.
    const { deps, log } = world({ onFeed: () => jest.setSystemTime(T0 + 5000) });
    await pullChanges(deps);
    expect(log[1]).toStrictEqual(['listChanges', { since: undefined, abortSignal: true }]);
    expect(await bookmark()).toBe(String(T0));
  });

  it('reads what changed since the last complete round and moves the bookmark on', async () => {
    await redis.set(bookmarkKey(prefix, 'crowd'), String(T0 - 3_600_000));
    const { deps, log } = world({ onFeed: () => jest.setSystemTime(T0 + 5000) });
    await pullChanges(deps);
    expect(log[1]).toStrictEqual(['listChanges', { since: new Date(T0 - 3_600_000), abortSignal: true }]);
    expect(await bookmark()).toBe(String(T0));
  });

  it('never moves the bookmark back', async () => {
    // A full sync that started later already moved it further.
    await redis.set(bookmarkKey(prefix, 'crowd'), String(T0 + 60_000));
    const { deps, log } = world();
    await pullChanges(deps);
    expect(log[1]).toStrictEqual(['listChanges', { since: new Date(T0 + 60_000), abortSignal: true }]);
    expect(await bookmark()).toBe(String(T0 + 60_000));
  });

  it('moves only forward when set directly, one target at a time', async () => {
    await advanceBookmark(redis, prefix, 'crowd', 100);
    await advanceBookmark(redis, prefix, 'crowd', 99);
    expect(await bookmark('crowd')).toBe('100');
    await advanceBookmark(redis, prefix, 'crowd', 101);
    expect(await bookmark('crowd')).toBe('101');
    expect(await bookmark('entra')).toBeNull();
    expect(bookmarkKey(prefix, 'entra')).toBe(`${prefix}:sync:since:entra`);
  });
});

describe('pullChanges: a round cut short', () => {
  const r1 = remote('r1', 'a1', { lastName: 'New', firstName: 'Mallory' });
  const changes = [upsert(r1)];
  const setup: Setup = { changes, apps: [app('a1')], linked: { r1: 'a1' }, authority: { lastName: 'target' } };

  it('enqueues nothing and keeps the bookmark when the feed fails mid-way', async () => {
    await redis.set(bookmarkKey(prefix, 'crowd'), '5');
    const { deps, of } = world({ ...setup, feedError: new Error('Crowd answered 503') });
    await expect(pullChanges(deps)).rejects.toThrow('Crowd answered 503');
    expect(of('applies', 'pushUpserts', 'wait')).toStrictEqual([]);
    expect(await bookmark()).toBe('5');
  });

  it('enqueues nothing and keeps the bookmark when aborted while reading', async () => {
    const controller = new AbortController();
    // Shutdown comes once the first change is handled; the feed stops at the next read.
    const { deps, of } = world({ ...setup, changes: [...changes, upsert(remote('r2', 'b1'))], abortSignal: controller.signal, afterChange: () => controller.abort(new Error('shutting down')) });
    await expect(pullChanges(deps)).rejects.toThrow('shutting down');
    expect(of('directory.get', 'applies', 'pushUpserts', 'wait')).toStrictEqual([['directory.get', 'a1', true]]);
    expect(await bookmark()).toBeNull();
  });

  it('enqueues nothing and keeps the bookmark when the application cannot be read', async () => {
    await redis.set(bookmarkKey(prefix, 'crowd'), '5');
    // b1's update was worked out before a1's read failed: it is not enqueued either.
    const { deps, of } = world({
      ...setup, changes: [upsert(remote('r0', 'b1', { lastName: 'New' })), ...changes], apps: [app('a1'), app('b1')], linked: { r0: 'b1', r1: 'a1' },
      getError: { id: 'a1', error: new Error('connection to the application database lost') },
    });
    await expect(pullChanges(deps)).rejects.toThrow('connection to the application database lost');
    expect(of('directory.get', 'applies', 'pushUpserts', 'wait')).toStrictEqual([['directory.get', 'b1', true], ['directory.get', 'a1', true]]);
    expect(await bookmark()).toBe('5');
  });

  it('keeps the bookmark when waiting for the enqueued jobs is cut short', async () => {
    const { deps, of } = world({ ...setup, waitError: new Error('shutting down') });
    await expect(pullChanges(deps)).rejects.toThrow('shutting down');
    // The jobs were enqueued and run on; the next round reads the same changes again.
    expect(of('applies', 'pushUpserts', 'wait')).toStrictEqual([
      ['applies', [{ source: 'crowd', action: 'update', appUserId: 'a1', remote: r1, fields: ['lastName'] }]],
      ['pushUpserts', 'crowd', [snap('a1')], 'sync'],
      ['wait', 'app', ['a0'], true],
    ]);
    expect(await bookmark()).toBeNull();
  });
});

describe('pullChanges: Entra', () => {
  it('reads Entra\'s links and authority, pushes to Entra and keeps Entra\'s bookmark', async () => {
    const r: RemoteUser = { ...remote('e1', 'a1', { firstName: 'Mallory' }), target: 'entra', photo: { hash: 'new', contentType: 'image/jpeg' } };
    const { deps, log } = world({ target: 'entra', changes: [upsert(r)], apps: [app('a1', { photoHash: 'old' })], linked: { e1: 'a1' } });
    // Entra owns the photo by default; the application owns the first name.
    expect(await pullChanges(deps)).toStrictEqual(result({ target: 'entra', changes: 1, appUpdates: 1, reverted: 1 }));
    expect(log).toStrictEqual([
      ['phase', 'planning', undefined, 'entra'],
      ['listChanges', { since: undefined, abortSignal: true }],
      ['add', 1],
      ['links.findByRemoteId', 'entra', 'e1'],
      ['links.get', 'entra', 'a1'],
      ['directory.get', 'a1', true],
      ['expectedRemote', snap('a1'), true],
      ['applies', [{ source: 'entra', action: 'update', appUserId: 'a1', remote: r, fields: ['photo'] }]],
      ['pushUpserts', 'entra', [snap('a1')], 'sync'],
      ['wait', 'app', ['a0'], true],
      ['wait', 'entra', ['u1'], true],
    ]);
    expect(await bookmark('entra')).toBe(String(T0));
    expect(await bookmark('crowd')).toBeNull();
  });

  it('remembers the read of an Entra user that agrees on both sides in Entra\'s link', async () => {
    const r: RemoteUser = { ...remote('e1', 'a1'), target: 'entra' };
    const { deps, of } = world({ target: 'entra', changes: [upsert(r)], apps: [app('a1')], linked: { e1: 'a1' } });
    expect(await pullChanges(deps)).toStrictEqual(result({ target: 'entra', changes: 1 }));
    expect(of('links.update', 'applies', 'pushUpserts')).toStrictEqual([['links.update', 'entra', 'a1', { readHash: remoteHash(r) }]]);
  });

  it('disables in the application an Entra user deleted when Entra owns the lifecycle', async () => {
    const { deps, log } = world({ target: 'entra', changes: [{ type: 'removed', remoteId: 'e1', reason: 'deleted' }], linked: { e1: 'a1' }, authority: { active: 'target' } });
    expect(await pullChanges(deps)).toStrictEqual(result({ target: 'entra', changes: 1, appDisables: 1 }));
    expect(log.slice(2)).toStrictEqual([
      ['add', 1],
      ['links.findByRemoteId', 'entra', 'e1'],
      ['applies', [{ source: 'entra', action: 'disable', appUserId: 'a1', remote: null }]],
      ['wait', 'app', ['a0'], true],
    ]);
  });

  it('leaves a deleted Entra user\'s application user alone under Entra\'s default authority', async () => {
    // Crowd owns everything here, the lifecycle included: its authority does not decide for Entra.
    const { deps, of } = world({ target: 'entra', changes: [{ type: 'removed', remoteId: 'e1', reason: 'deleted' }], linked: { e1: 'a1' } });
    expect(await pullChanges(deps)).toStrictEqual(result({ target: 'entra', changes: 1 }));
    expect(of('applies', 'wait')).toStrictEqual([]);
  });
});
