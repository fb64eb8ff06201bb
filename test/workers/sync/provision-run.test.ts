// Provisioning, both directions, call by call: to a target, application users (all of them,
// or by id) become push jobs at the provision origin; from a target, remote users (all, or by
// remote id) become imports on the app queue and app user ids become pulls. Work goes out in
// chunks of 1,000 with at most two in flight, every job is waited for once, progress counts
// finished users and the result counts how each ended. The queues, their trackers, the
// application directory, the connectors, progress and the logger are stand-ins that record.
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { ProvisionData, RemoteUser, Target, UserSnapshot } from '../../../shared/jobs.js';
import { SCHEMA_VERSION } from '../../../shared/jobs.js';
import { SyncError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import type { AppUser, UserDirectory } from '../../../workers/app/directory.js';
import type { SyncConnector } from '../../../workers/runtime/connector.js';
import type { ProgressReporter } from '../../../workers/sync/progress.js';
import { provision, type ProvisionDeps } from '../../../workers/sync/provision.js';
import type { SyncQueues } from '../../../workers/sync/queues.js';
import { toSnapshot } from '../../../workers/sync/snapshot.js';
import type { Tally } from '../../../workers/sync/tracker.js';
import { fixDate } from '../../helpers/clock.js';
import { MemoryDirectory } from '../../helpers/memory-directory.js';

const T0 = Date.UTC(2026, 5, 1, 12);

beforeEach(() => {
  fixDate(T0);
});
afterEach(() => {
  jest.useRealTimers();
});

type Outcome = keyof Tally;
type Change = Parameters<SyncQueues['applies']>[0][number];

interface Wait {
  queue: Target | 'app';
  ids: string[];
  onSettled: (o: Outcome) => void;
  resolve: (t: Tally) => void;
  reject: (e: unknown) => void;
}

interface World {
  users?: AppUser[];
  /** What each connector lists and reads. */
  remotes?: RemoteUser[];
  /** Connectors this worker runs. */
  targets?: Target[];
  /** How each job id ends; `succeeded` when not named. */
  outcomes?: Record<string, Outcome>;
  /** Waits settle only when `release` is called. */
  hold?: boolean;
  /** The tracker's wait rejects with this. */
  waitError?: Error;
  /** The directory's listing dies after this many users. */
  failListingAfter?: number;
  /** The connector's listing dies after this many users. */
  failRemoteListingAfter?: number;
  readError?: Error;
  appUsernameError?: Error;
}

const appUser = (id: string, over: Partial<AppUser> = {}): AppUser => ({ id, username: `user-${id}`, email: `${id}@example.com`, active: true, version: 7, ...over });
const remoteUser = (target: Target, n: number | string): RemoteUser => ({ target, remoteId: `r${n}`, username: `remote${n}`, email: `remote${n}@example.com`, active: true });
const snap = (u: AppUser) => (toSnapshot(u, T0) as { snapshot: UserSnapshot & { version: number } }).snapshot;
const numbered = (n: number, id: (i: number) => string = (i) => `u${String(i).padStart(5, '0')}`) => Array.from({ length: n }, (_, i) => id(i));

/** Records every call of the stand-ins in one log, in order. */
function world(w: World = {}) {
  const log: unknown[][] = [];
  const stop = new AbortController();
  const signal = stop.signal;
  let seq = 0;
  const jobIds = (n: number) => Array.from({ length: n }, () => `j${seq++}`);
  const waits: Wait[] = [];
  const waitWatchers: { n: number; resolve: () => void }[] = [];

  const settle = (wait: Wait) => {
    const tally: Tally = { succeeded: 0, skipped: 0, failed: 0 };
    for (const id of wait.ids) {
      const o = w.outcomes?.[id] ?? 'succeeded';
      tally[o] += 1;
      wait.onSettled(o);
    }
    wait.resolve(tally);
  };

  const queues = {
    async pushUpserts(target: Target, users: (UserSnapshot & { version: number })[], origin: string) {
      log.push(['pushUpserts', target, structuredClone(users), origin]);
      return jobIds(users.length);
    },
    async pulls(target: Target, ids: string[]) {
      log.push(['pulls', target, [...ids]]);
      return jobIds(ids.length);
    },
    async applies(changes: Change[]) {
      log.push(['applies', structuredClone(changes)]);
      return jobIds(changes.length);
    },
    async get(name: Target | 'app') {
      log.push(['queue', name]);
      return {
        tracker: {
          wait(ids: string[], onSettled: (o: Outcome) => void, options: { abortSignal?: AbortSignal }) {
            log.push(['wait', name, [...ids], options.abortSignal === signal]);
            return new Promise<Tally>((resolve, reject) => {
              const wait: Wait = { queue: name, ids: [...ids], onSettled, resolve, reject };
              waits.push(wait);
              for (const watcher of waitWatchers.filter((x) => waits.length >= x.n)) watcher.resolve();
              if (w.waitError) reject(w.waitError);
              else if (!w.hold) settle(wait);
            });
          },
        },
      };
    },
  } as unknown as SyncQueues;

  const memory = new MemoryDirectory(w.users ?? []);
  memory.failListingAfter = w.failListingAfter;
  const directory = {
    async *list(options: { pageSize?: number; abortSignal?: AbortSignal }) {
      log.push(['list', options.pageSize, options.abortSignal === signal]);
      yield* memory.list({ ...(options.pageSize !== undefined && { pageSize: options.pageSize }) });
    },
    async get(id: string, options: { abortSignal?: AbortSignal }) {
      log.push(['directory.get', id, options.abortSignal === signal]);
      return memory.get(id);
    },
  } as unknown as UserDirectory;

  const connector = (target: Target) => ({
    target,
    async *listUsers(options: { abortSignal?: AbortSignal }) {
      log.push(['listUsers', target, options.abortSignal === signal]);
      let n = 0;
      for (const r of w.remotes ?? []) {
        if (n++ === w.failRemoteListingAfter) throw new Error(`${target} listing cut short`);
        yield { ...r, target };
      }
    },
    async readUser(id: string, options: { abortSignal?: AbortSignal }) {
      log.push(['readUser', target, id, options.abortSignal === signal]);
      if (w.readError) throw w.readError;
      const r = (w.remotes ?? []).find((u) => u.remoteId === id || u.username === id);
      return r ? { ...r, target } : null;
    },
    async appUsername(remote: RemoteUser, options: { abortSignal?: AbortSignal }) {
      log.push(['appUsername', target, remote.remoteId, options.abortSignal === signal]);
      if (w.appUsernameError) throw w.appUsernameError;
      return `app-${remote.username}`;
    },
  }) as unknown as SyncConnector;

  const progress = {
    async phase(...args: unknown[]) {
      log.push(['phase', ...args]);
    },
    async add(n: number) {
      log.push(['add', n]);
    },
  } as unknown as ProgressReporter;
  const logger = {
    warn(fields: unknown, msg: string) {
      log.push(['warn', fields, msg]);
    },
  } as unknown as Logger;

  const connectors = Object.fromEntries((w.targets ?? ['crowd', 'entra']).map((t) => [t, connector(t)]));
  const deps: ProvisionDeps = { queues, directory, connectors, progress, logger, abortSignal: signal };
  const of = (kind: string) => log.filter((l) => l[0] === kind);
  /** Resolves once `n` waits have begun. */
  const waitsBegun = (n: number) => new Promise<void>((resolve) => {
    if (waits.length >= n) resolve();
    else waitWatchers.push({ n, resolve });
  });
  const release = (i: number) => settle(waits[i]!);
  return { deps, log, of, stop, waits, waitsBegun, release };
}

const data = (over: Partial<ProvisionData> & Pick<ProvisionData, 'scope'>): ProvisionData => ({ schemaVersion: SCHEMA_VERSION, enqueuedAt: T0, targets: ['crowd'], direction: 'to-target', ...over });

/** Lets every pending promise callback run (the stand-ins answer without I/O). */
const settled = () => new Promise<void>((r) => setImmediate(r));

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('to the targets', () => {
  it('pushes every application user at the provision origin, waits for the jobs and counts how each ended', async () => {
    const a1 = appUser('a1', { firstName: 'Ann', groups: ['staff'] });
    const b2 = appUser('b2', { version: undefined, active: false });
    const w = world({ users: [b2, a1], outcomes: { j1: 'skipped' } });
    await expect(provision(w.deps, data({ scope: 'all' }))).resolves.toStrictEqual({
      direction: 'to-target', targets: { crowd: { users: 2, succeeded: 1, skipped: 1, failed: 0, notFound: 0 } }, durationMs: 0,
    });
    expect(w.log).toStrictEqual([
      ['phase', 'applying', undefined, 'crowd'],
      ['list', 1000, true],
      // A row without a version is pushed with the clock's.
      ['pushUpserts', 'crowd', [snap(a1), { ...snap(b2), version: T0 }], 'provision'],
      ['queue', 'crowd'],
      ['wait', 'crowd', ['j0', 'j1'], true],
      ['add', 1],
      ['add', 1],
      ['phase', 'done'],
    ]);
    expect(snap(b2).version).toBe(T0);
  });

  it('reports a row the application stored badly as failed, counted in the users and the progress, pushing the others', async () => {
    const w = world({ users: [appUser('a1'), appUser('b2', { email: 'not an address' }), appUser('c3'), appUser('d4', { username: '' })], outcomes: { j1: 'failed' } });
    await expect(provision(w.deps, data({ scope: 'all' }))).resolves.toMatchObject({ targets: { crowd: { users: 4, succeeded: 1, skipped: 0, failed: 3, notFound: 0 } } });
    expect(w.of('warn').map((l) => (l[1] as { appUserId: string }).appUserId)).toStrictEqual(['b2', 'd4']);
    expect(w.of('warn')[0]).toStrictEqual(['warn', { appUserId: 'b2', reason: 'invalid application data: email: must be an e-mail address' }, 'not provisioned']);
    expect(w.of('pushUpserts')).toStrictEqual([['pushUpserts', 'crowd', [snap(appUser('a1')), snap(appUser('c3'))], 'provision']]);
    // Both bad rows end at once, before their chunk is pushed; then each job as it ends.
    expect(w.log.filter((l) => l[0] === 'add' || l[0] === 'pushUpserts').map((l) => l[0] === 'add' ? l[1] : 'push')).toStrictEqual([2, 'push', 1, 1]);
  });

  it('reads the named users once each, counts and warns about the missing ones and pushes the rest', async () => {
    const w = world({ users: [appUser('a1'), appUser('b2')] });
    await expect(provision(w.deps, data({ scope: { ids: ['a1', 'gone', 'a1', 'b2'] }, targets: ['entra'] }))).resolves.toStrictEqual({
      direction: 'to-target', targets: { entra: { users: 3, succeeded: 2, skipped: 0, failed: 0, notFound: 1 } }, durationMs: 0,
    });
    expect(w.log).toStrictEqual([
      ['phase', 'applying', 3, 'entra'],
      ['directory.get', 'a1', true],
      ['directory.get', 'gone', true],
      ['directory.get', 'b2', true],
      ['warn', { count: 1, first: ['gone'] }, 'provision: application users not found'],
      ['add', 1],
      ['pushUpserts', 'entra', [snap(appUser('a1')), snap(appUser('b2'))], 'provision'],
      ['queue', 'entra'],
      ['wait', 'entra', ['j0', 'j1'], true],
      ['add', 1],
      ['add', 1],
      ['phase', 'done'],
    ]);
  });

  it('reads named users a chunk of 1,000 at a time and names at most five missing ones per chunk', async () => {
    const ids = numbered(1005);
    const missing = new Set(ids.slice(10, 17));
    const w = world({ users: ids.filter((id) => !missing.has(id)).map((id) => appUser(id)) });
    await expect(provision(w.deps, data({ scope: { ids } }))).resolves.toMatchObject({ targets: { crowd: { users: 1005, succeeded: 998, notFound: 7 } } });
    expect(w.of('directory.get').map((l) => l[1])).toStrictEqual(ids);
    expect(w.of('warn')).toStrictEqual([['warn', { count: 7, first: ids.slice(10, 15) }, 'provision: application users not found']]);
    expect(w.of('pushUpserts').map((l) => (l[2] as unknown[]).length)).toStrictEqual([993, 5]);
    // The progress reaches its total of 1,005: 998 jobs one by one, the 7 missing at once.
    expect(w.of('add').map((l) => l[1])).toStrictEqual([7, ...Array<number>(998).fill(1)]);
  });

  it('makes no empty chunk when the ids fill whole chunks', async () => {
    const ids = numbered(2000);
    const w = world({ users: ids.map((id) => appUser(id)) });
    await provision(w.deps, data({ scope: { ids } }));
    expect(w.of('pushUpserts').map((l) => (l[2] as unknown[]).length)).toStrictEqual([1000, 1000]);
    expect(w.of('phase')).toStrictEqual([['phase', 'applying', 2000, 'crowd'], ['phase', 'done']]);
  });

  it('lists all users in pages of 1,000, one push chunk per page', async () => {
    const w = world({ users: numbered(2500).map((id) => appUser(id)) });
    await expect(provision(w.deps, data({ scope: 'all' }))).resolves.toMatchObject({ targets: { crowd: { users: 2500, succeeded: 2500, skipped: 0, failed: 0, notFound: 0 } } });
    expect(w.of('list')).toStrictEqual([['list', 1000, true]]);
    expect(w.of('pushUpserts').map((l) => (l[2] as unknown[]).length)).toStrictEqual([1000, 1000, 500]);
    expect(w.of('wait').map((l) => (l[2] as unknown[]).length)).toStrictEqual([1000, 1000, 500]);
    expect(w.of('add')).toHaveLength(2500);
  });

  it('with no application users, pushes nothing and is done', async () => {
    const w = world();
    await expect(provision(w.deps, data({ scope: 'all' }))).resolves.toStrictEqual({ direction: 'to-target', targets: { crowd: { users: 0, succeeded: 0, skipped: 0, failed: 0, notFound: 0 } }, durationMs: 0 });
    expect(w.log).toStrictEqual([['phase', 'applying', undefined, 'crowd'], ['list', 1000, true], ['phase', 'done']]);
  });

  it('refuses remote ids, which name remote users, before anything is read', async () => {
    const w = world({ users: [appUser('a1')] });
    const err = await rejection(provision(w.deps, data({ scope: { remoteIds: ['r1'] } })));
    expect(err.message).toBe('remoteIds name remote users: provision them with direction from-target');
    expect(err).not.toBeInstanceOf(SyncError);
    expect(w.log).toStrictEqual([]);
  });
});

describe('from the targets', () => {
  it('pulls the named application users on the target\'s queue, each once', async () => {
    const w = world({ outcomes: { j1: 'skipped' } });
    await expect(provision(w.deps, data({ direction: 'from-target', targets: ['entra'], scope: { ids: ['a1', 'b2', 'a1'] } }))).resolves.toStrictEqual({
      direction: 'from-target', targets: { entra: { users: 2, succeeded: 1, skipped: 1, failed: 0, notFound: 0 } }, durationMs: 0,
    });
    expect(w.log).toStrictEqual([
      ['phase', 'applying', 2, 'entra'],
      ['pulls', 'entra', ['a1', 'b2']],
      ['queue', 'entra'],
      ['wait', 'entra', ['j0', 'j1'], true],
      ['add', 1],
      ['add', 1],
      ['phase', 'done'],
    ]);
  });

  it('pulls in chunks of 1,000', async () => {
    const ids = numbered(2001);
    const w = world();
    await expect(provision(w.deps, data({ direction: 'from-target', scope: { ids } }))).resolves.toMatchObject({ targets: { crowd: { users: 2001, succeeded: 2001 } } });
    expect(w.of('pulls').map((l) => l[2])).toStrictEqual([ids.slice(0, 1000), ids.slice(1000, 2000), ids.slice(2000)]);
    // Ids that fill whole chunks make no empty one.
    const whole = world();
    await provision(whole.deps, data({ direction: 'from-target', scope: { ids: ids.slice(0, 1000) } }));
    expect(whole.of('pulls').map((l) => (l[2] as unknown[]).length)).toStrictEqual([1000]);
  });

  it('imports the named remote users each once, under the application username their naming rule gives, counting those that do not exist as not found', async () => {
    const remotes = [remoteUser('crowd', 1), remoteUser('crowd', 2)];
    const w = world({ remotes, outcomes: { j0: 'failed' } });
    await expect(provision(w.deps, data({ direction: 'from-target', scope: { remoteIds: ['r1', 'nobody', 'remote2', 'r1'] } }))).resolves.toStrictEqual({
      direction: 'from-target', targets: { crowd: { users: 3, succeeded: 1, skipped: 0, failed: 1, notFound: 1 } }, durationMs: 0,
    });
    expect(w.log).toStrictEqual([
      ['phase', 'applying', 3, 'crowd'],
      ['readUser', 'crowd', 'r1', true],
      ['readUser', 'crowd', 'nobody', true],
      ['readUser', 'crowd', 'remote2', true],
      ['warn', { count: 1, first: ['nobody'] }, 'provision: remote users not found'],
      ['add', 1],
      ['appUsername', 'crowd', 'r1', true],
      ['appUsername', 'crowd', 'r2', true],
      ['applies', [
        { source: 'crowd', action: 'import', remote: remotes[0], appUsername: 'app-remote1' },
        { source: 'crowd', action: 'import', remote: remotes[1], appUsername: 'app-remote2' },
      ]],
      ['queue', 'app'],
      ['wait', 'app', ['j0', 'j1'], true],
      ['add', 1],
      ['add', 1],
      ['phase', 'done'],
    ]);
  });

  it('reads named remote users a chunk of 1,000 at a time, the next chunk only once the one before is enqueued', async () => {
    const remotes = numbered(1497, (i) => String(i)).map((n) => remoteUser('crowd', n));
    const remoteIds = [...remotes.map((r) => r.remoteId), 'x1', 'x2', 'x3'];
    const w = world({ remotes });
    await expect(provision(w.deps, data({ direction: 'from-target', scope: { remoteIds } }))).resolves.toMatchObject({
      targets: { crowd: { users: 1500, succeeded: 1497, notFound: 3 } },
    });
    const kinds = w.log.map((l) => l[0]);
    const reads = kinds.flatMap((k, i) => (k === 'readUser' ? [i] : []));
    expect(reads).toHaveLength(1500);
    expect(w.of('applies').map((l) => (l[1] as unknown[]).length)).toStrictEqual([1000, 497]);
    // Read 1,001 comes after the first chunk went to the app queue.
    expect(kinds.indexOf('applies')).toBeLessThan(reads[1000]!);
    expect(reads[999]!).toBeLessThan(kinds.indexOf('applies'));
    expect(w.of('warn')).toStrictEqual([['warn', { count: 3, first: ['x1', 'x2', 'x3'] }, 'provision: remote users not found']]);
    expect(w.of('add').reduce((n, l) => n + (l[1] as number), 0)).toBe(1500);
  });

  it('imports every remote user, a chunk of 1,000 at a time, on the app queue', async () => {
    const remotes = numbered(2500, (i) => String(i)).map((n) => remoteUser('entra', n));
    const w = world({ remotes });
    await expect(provision(w.deps, data({ direction: 'from-target', targets: ['entra'], scope: 'all' }))).resolves.toMatchObject({
      targets: { entra: { users: 2500, succeeded: 2500, skipped: 0, failed: 0, notFound: 0 } },
    });
    expect(w.of('phase')).toStrictEqual([['phase', 'applying', undefined, 'entra'], ['phase', 'done']]);
    expect(w.of('listUsers')).toStrictEqual([['listUsers', 'entra', true]]);
    const chunks = w.of('applies').map((l) => l[1] as Change[]);
    expect(chunks.map((c) => c.length)).toStrictEqual([1000, 1000, 500]);
    expect(chunks.flat().map((c) => c.remote!.remoteId)).toStrictEqual(remotes.map((r) => r.remoteId));
    expect(chunks[2]![499]).toStrictEqual({ source: 'entra', action: 'import', remote: remotes[2499], appUsername: 'app-remote2499' });
    expect(w.of('queue')).toStrictEqual([['queue', 'app'], ['queue', 'app'], ['queue', 'app']]);
    expect(w.of('appUsername')).toHaveLength(2500);
  });

  it('makes no empty chunk when the remote users fill whole chunks, and none at all when there are none', async () => {
    const full = world({ remotes: numbered(1000, (i) => String(i)).map((n) => remoteUser('crowd', n)) });
    await provision(full.deps, data({ direction: 'from-target', scope: 'all' }));
    expect(full.of('applies').map((l) => (l[1] as unknown[]).length)).toStrictEqual([1000]);
    const none = world();
    await expect(provision(none.deps, data({ direction: 'from-target', scope: 'all' }))).resolves.toStrictEqual({
      direction: 'from-target', targets: { crowd: { users: 0, succeeded: 0, skipped: 0, failed: 0, notFound: 0 } }, durationMs: 0,
    });
    expect(none.log).toStrictEqual([['phase', 'applying', undefined, 'crowd'], ['listUsers', 'crowd', true], ['phase', 'done']]);
  });
});

describe('chunks in flight and several targets', () => {
  it('enqueues the next chunk while one runs, but never a third before the first has finished', async () => {
    const w = world({ users: numbered(2500).map((id) => appUser(id)), hold: true });
    let done = false;
    const run = provision(w.deps, data({ scope: 'all' })).finally(() => {
      done = true;
    });
    await w.waitsBegun(2);
    await settled();
    expect(w.of('pushUpserts')).toHaveLength(2);
    expect(w.of('add')).toHaveLength(0);
    w.release(0);
    await w.waitsBegun(3);
    expect(w.of('pushUpserts')).toHaveLength(3);
    // The last chunk was enqueued while the second still ran; both are waited for.
    w.release(1);
    await settled();
    expect(done).toBe(false);
    expect(w.of('phase')).toStrictEqual([['phase', 'applying', undefined, 'crowd']]);
    w.release(2);
    await expect(run).resolves.toMatchObject({ targets: { crowd: { users: 2500, succeeded: 2500 } } });
    expect(w.of('add')).toHaveLength(2500);
  });

  it('finishes one target\'s jobs before the next target begins, and is done once, after the last', async () => {
    const w = world({ remotes: [remoteUser('crowd', 1)], hold: true, outcomes: { j1: 'skipped' } });
    const run = provision(w.deps, data({ direction: 'from-target', targets: ['crowd', 'entra'], scope: 'all' }));
    await w.waitsBegun(1);
    await settled();
    expect(w.of('phase')).toStrictEqual([['phase', 'applying', undefined, 'crowd']]);
    w.release(0);
    await w.waitsBegun(2);
    w.release(1);
    await expect(run).resolves.toStrictEqual({
      direction: 'from-target',
      targets: { crowd: { users: 1, succeeded: 1, skipped: 0, failed: 0, notFound: 0 }, entra: { users: 1, succeeded: 0, skipped: 1, failed: 0, notFound: 0 } },
      durationMs: 0,
    });
    expect(w.log).toStrictEqual([
      ['phase', 'applying', undefined, 'crowd'],
      ['listUsers', 'crowd', true],
      ['appUsername', 'crowd', 'r1', true],
      ['applies', [{ source: 'crowd', action: 'import', remote: remoteUser('crowd', 1), appUsername: 'app-remote1' }]],
      ['queue', 'app'],
      ['wait', 'app', ['j0'], true],
      ['add', 1],
      ['phase', 'applying', undefined, 'entra'],
      ['listUsers', 'entra', true],
      ['appUsername', 'entra', 'r1', true],
      ['applies', [{ source: 'entra', action: 'import', remote: remoteUser('entra', 1), appUsername: 'app-remote1' }]],
      ['queue', 'app'],
      ['wait', 'app', ['j1'], true],
      ['add', 1],
      ['phase', 'done'],
    ]);
  });

  it('provisions to each target in turn, reading the application again for each', async () => {
    const w = world({ users: [appUser('a1')] });
    await expect(provision(w.deps, data({ targets: ['entra', 'crowd'], scope: { ids: ['a1'] } }))).resolves.toStrictEqual({
      direction: 'to-target',
      targets: { entra: { users: 1, succeeded: 1, skipped: 0, failed: 0, notFound: 0 }, crowd: { users: 1, succeeded: 1, skipped: 0, failed: 0, notFound: 0 } },
      durationMs: 0,
    });
    expect(w.of('phase')).toStrictEqual([['phase', 'applying', 1, 'entra'], ['phase', 'applying', 1, 'crowd'], ['phase', 'done']]);
    expect(w.of('pushUpserts').map((l) => l[1])).toStrictEqual(['entra', 'crowd']);
    expect(w.of('directory.get')).toHaveLength(2);
  });

  it('measures the whole run', async () => {
    const w = world({ users: [appUser('a1')] });
    const push = w.deps.queues.pushUpserts.bind(w.deps.queues);
    w.deps.queues.pushUpserts = async (...args) => {
      jest.setSystemTime(T0 + 40);
      return push(...args);
    };
    await expect(provision(w.deps, data({ scope: 'all' }))).resolves.toMatchObject({ durationMs: 40 });
  });
});

describe('failures mid-way and aborts', () => {
  it('refuses a target this worker does not run, before anything is read', async () => {
    const w = world({ targets: ['crowd'], users: [appUser('a1')] });
    const err = await rejection(provision(w.deps, data({ targets: ['entra'], scope: 'all' })));
    expect(err.message).toBe('provisioning entra, but this worker does not run the entra target');
    expect(err).not.toBeInstanceOf(SyncError);
    expect(w.log).toStrictEqual([]);
  });

  it('finishes the targets it runs before refusing one it does not', async () => {
    const w = world({ targets: ['crowd'], users: [appUser('a1')] });
    const err = await rejection(provision(w.deps, data({ targets: ['crowd', 'entra'], scope: 'all' })));
    expect(err.message).toBe('provisioning entra, but this worker does not run the entra target');
    expect(w.of('wait')).toHaveLength(1);
    expect(w.of('phase')).toStrictEqual([['phase', 'applying', undefined, 'crowd']]);
  });

  it('fails with the listing\'s error when the application listing dies mid-way: no cut-short listing counts as done', async () => {
    const w = world({ users: numbered(1500).map((id) => appUser(id)), failListingAfter: 1000 });
    const err = await rejection(provision(w.deps, data({ scope: 'all' })));
    expect(err.message).toBe('connection to the application database lost');
    expect(w.of('pushUpserts').map((l) => (l[2] as unknown[]).length)).toStrictEqual([1000]);
    expect(w.of('phase')).toStrictEqual([['phase', 'applying', undefined, 'crowd']]);
  });

  it('fails with the connector\'s error when the remote listing dies mid-way', async () => {
    const w = world({ remotes: numbered(1200, (i) => String(i)).map((n) => remoteUser('crowd', n)), failRemoteListingAfter: 1100 });
    const err = await rejection(provision(w.deps, data({ direction: 'from-target', scope: 'all' })));
    expect(err.message).toBe('crowd listing cut short');
    expect(w.of('applies').map((l) => (l[1] as unknown[]).length)).toStrictEqual([1000]);
    expect(w.of('phase')).toHaveLength(1);
  });

  it.each<[string, World]>([
    ['reading a named remote user', { readError: new Error('Crowd answered 500') }],
    ['mapping a username back', { appUsernameError: new Error('naming rule failed') }],
  ])('fails with the error of %s, enqueuing nothing', async (_, failure) => {
    const w = world({ remotes: [remoteUser('crowd', 1)], ...failure });
    await expect(provision(w.deps, data({ direction: 'from-target', scope: { remoteIds: ['r1'] } }))).rejects.toBe(failure.readError ?? failure.appUsernameError);
    expect(w.of('applies')).toStrictEqual([]);
    expect(w.of('phase')).toHaveLength(1);
  });

  it('stops at the next chunk boundary when a wait is aborted: the abort\'s reason, and no third chunk', async () => {
    const w = world({ users: numbered(2500).map((id) => appUser(id)), waitError: new Error('worker shutting down') });
    const err = await rejection(provision(w.deps, data({ scope: 'all' })));
    expect(err.message).toBe('worker shutting down');
    expect(w.of('pushUpserts')).toHaveLength(2);
    expect(w.of('add')).toStrictEqual([]);
    expect(w.of('phase')).toStrictEqual([['phase', 'applying', undefined, 'crowd']]);
  });

  it('fails when the last chunk\'s wait is aborted', async () => {
    const w = world({ users: [appUser('a1')], hold: true });
    const run = provision(w.deps, data({ scope: 'all' }));
    await w.waitsBegun(1);
    const reason = new Error('aborted');
    w.waits[0]!.reject(reason);
    await expect(run).rejects.toBe(reason);
    expect(w.of('phase')).toStrictEqual([['phase', 'applying', undefined, 'crowd']]);
  });

  it('leaves no rejection unhandled when a chunk\'s wait fails and the listing then dies', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const w = world({ users: numbered(1500).map((id) => appUser(id)), failListingAfter: 1000, waitError: new Error('worker shutting down') });
      const err = await rejection(provision(w.deps, data({ scope: 'all' })));
      expect(err.message).toBe('connection to the application database lost');
      await settled();
      await settled();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toStrictEqual([]);
  });
});
