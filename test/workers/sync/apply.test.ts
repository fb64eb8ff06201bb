// How a stored plan is applied: each entry turned into the ordinary job it stands for (pushes
// with the application's current row, removals, application changes, links written at once),
// a chunk at a time with the cursor moved before the chunk's jobs are waited for, and the
// plan's meta counting what ended how. The plan lives on real Redis; the queues, their
// trackers, the application directory, the links and progress are stand-ins that record calls.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { Redis } from 'ioredis';
import type { RemoteUser, Target, UserSnapshot } from '../../../shared/jobs.js';
import type { LinkStore } from '../../../shared/links.js';
import type { Logger } from '../../../shared/logger.js';
import type { AppUser, UserDirectory } from '../../../workers/app/directory.js';
import { applyPlan, type ApplyDeps } from '../../../workers/sync/apply.js';
import { PlanStore, emptyCounts, type PlanEntry, type PlanMeta } from '../../../workers/sync/plan-store.js';
import type { ProgressReporter } from '../../../workers/sync/progress.js';
import type { SyncQueues } from '../../../workers/sync/queues.js';
import type { Tally } from '../../../workers/sync/tracker.js';
import { fixDate } from '../../helpers/clock.js';
import { deletePrefix, uniquePrefix, workerRedis } from '../../helpers/redis.js';

const T0 = Date.UTC(2026, 5, 1, 12);
const ID = 'crowd-20260601T120000Z-abcdef';

let redis: Redis;
let prefix: string;
let store: PlanStore;

beforeAll(() => {
  redis = workerRedis();
});
afterAll(async () => {
  await redis.quit();
});
beforeEach(() => {
  fixDate(T0);
  prefix = uniquePrefix('apply');
  store = new PlanStore(redis, prefix);
});
afterEach(async () => {
  jest.useRealTimers();
  await deletePrefix(redis, prefix);
});

type Outcome = keyof Tally;
type Change = Parameters<SyncQueues['applies']>[0][number];

const row = (id: string, over: Partial<AppUser> = {}): AppUser => ({ id, username: `user-${id}`, email: `${id}@example.com`, active: true, version: 3, ...over });
const snap = (id: string, over: Partial<AppUser> = {}) => {
  const r = row(id, over);
  return { id: r.id, username: r.username, email: r.email, firstName: r.firstName, lastName: r.lastName, displayName: r.displayName, active: r.active, version: r.version! };
};
const remote = (remoteId: string): RemoteUser => ({ target: 'crowd', remoteId, username: remoteId, email: `${remoteId}@example.com`, active: true });
const meta = (over: Partial<PlanMeta> = {}): PlanMeta => ({
  id: ID, target: 'crowd', status: 'approved', dryRun: false, createdAt: 1, updatedAt: 1, counts: emptyCounts(),
  linked: 3, removals: 0, threshold: { absolute: 10, percent: 10 }, ...over,
});

interface World {
  rows?: Map<string, AppUser>;
  /** How the tracker settles each job id; `succeeded` when not named. */
  outcomes?: Record<string, Outcome>;
  /** Throws from the tracker's wait for these job ids. */
  waitError?: Error;
  chunkSize?: number;
}

/** Records every call of the stand-ins in one log, in order. */
function world(w: World = {}) {
  const log: unknown[][] = [];
  let seq = 0;
  const signal = new AbortController().signal;
  const ids = (prefix: string, n: number) => Array.from({ length: n }, () => `${prefix}${seq++}`);
  const queues = {
    async pushUpserts(target: Target, users: (UserSnapshot & { version: number })[], origin: string) {
      log.push(['pushUpserts', target, structuredClone(users), origin]);
      return ids('u', users.length);
    },
    async pushDeletes(target: Target, users: { id: string; username?: string }[]) {
      log.push(['pushDeletes', target, structuredClone(users)]);
      return ids('d', users.length);
    },
    async applies(changes: Change[]) {
      log.push(['applies', structuredClone(changes)]);
      return ids('a', changes.length);
    },
    async get(name: Target | 'app') {
      log.push(['get', name]);
      return {
        tracker: {
          async wait(jobIds: string[], onSettled: (o: Outcome) => void, options: { abortSignal?: AbortSignal }) {
            log.push(['wait', name, [...jobIds], options.abortSignal === signal]);
            if (w.waitError) throw w.waitError;
            const tally: Tally = { succeeded: 0, skipped: 0, failed: 0 };
            for (const id of jobIds) {
              const o = w.outcomes?.[id] ?? 'succeeded';
              tally[o] += 1;
              onSettled(o);
            }
            return tally;
          },
        },
      };
    },
  } as unknown as SyncQueues;
  const directory = {
    async get(id: string, options: { abortSignal?: AbortSignal }) {
      log.push(['directory.get', id, options.abortSignal === signal]);
      return w.rows?.get(id) ?? null;
    },
  } as unknown as UserDirectory;
  const links = {
    async update(target: Target, appUserId: string, update: unknown) {
      log.push(['links.update', target, appUserId, update]);
    },
  } as unknown as LinkStore;
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
  const setCursor = store.setCursor.bind(store);
  jest.spyOn(store, 'setCursor').mockImplementation(async (id, value) => {
    log.push(['setCursor', id, value]);
    await setCursor(id, value);
  });
  const saves: PlanMeta[] = [];
  const save = store.save.bind(store);
  jest.spyOn(store, 'save').mockImplementation(async (m) => {
    saves.push(structuredClone(m));
    return save(m);
  });
  const deps: ApplyDeps = { store, queues, directory, links, progress, logger, abortSignal: signal, ...(w.chunkSize && { chunkSize: w.chunkSize }) };
  const of = (kind: string) => log.filter((l) => l[0] === kind);
  return { deps, log, saves, of };
}

async function stage(entries: PlanEntry[], m: PlanMeta = meta()): Promise<PlanMeta> {
  await store.create(m);
  await store.appendEntries(m.id, entries);
  return m;
}

afterEach(() => {
  jest.restoreAllMocks();
});

describe('applyPlan: entries to jobs', () => {
  it('turns each kind of entry into its job, with the current application rows', async () => {
    const rows = new Map([
      ['a1', row('a1', { firstName: 'Now' })],
      ['b2', row('b2', { active: false })],
      ['c3', row('c3', { lastName: 'Linked' })],
    ]);
    const r = remote('r9');
    const entries: PlanEntry[] = [
      { action: 'create', appUserId: 'a1', username: 'stale-name' },
      { action: 'update', appUserId: 'b2', remoteId: 'rb', remoteName: 'b2', diff: [{ attribute: 'active', app: false, target: true }], fields: ['email'] },
      { action: 'link', appUserId: 'c3', remoteId: 'rc', remoteName: 'c3-remote', diff: [{ attribute: 'lastName', app: 'Linked', target: 'Old' }], fields: ['firstName'], remote: r },
      { action: 'link', appUserId: 'd4', remoteId: 'rd', remoteName: 'd4-remote', diff: [] },
      { action: 'disable', appUserId: 'e5', remoteId: 're', remoteName: 'erin' },
      { action: 'delete', appUserId: 'f6', remoteId: 'rf' },
      { action: 'import', remote: r, appUsername: 'r9-app' },
      { action: 'import', remote: remote('r10') },
      { action: 'appUpdate', appUserId: 'g7', remote: r, fields: ['email', 'lastName'], appUsername: 'g7-app' },
      { action: 'appUpdate', appUserId: 'h8', remote: r },
      { action: 'appDisable', appUserId: 'i9', remote: r },
      { action: 'appDisable', appUserId: 'j10' },
      { action: 'conflict', appUserId: 'k11', reason: 'two remote users claim it' },
    ];
    const m = await stage(entries);
    const { deps, log } = world({ rows });
    const result = await applyPlan(deps, m);

    expect(log).toStrictEqual([
      ['phase', 'applying', 13, 'crowd'],
      ['directory.get', 'a1', true],
      ['directory.get', 'b2', true],
      ['directory.get', 'c3', true],
      ['links.update', 'crowd', 'c3', { remoteId: 'rc', remoteName: 'c3-remote' }],
      ['links.update', 'crowd', 'd4', { remoteId: 'rd', remoteName: 'd4-remote' }],
      ['pushUpserts', 'crowd', [snap('a1', { firstName: 'Now' }), snap('b2', { active: false }), snap('c3', { lastName: 'Linked' })], 'sync'],
      ['pushDeletes', 'crowd', [{ id: 'e5', username: 'erin' }, { id: 'f6' }]],
      ['applies', [
        { source: 'crowd', action: 'update', appUserId: 'c3', remote: r, fields: ['firstName'], planId: ID },
        { source: 'crowd', action: 'import', remote: r, planId: ID, appUsername: 'r9-app' },
        { source: 'crowd', action: 'import', remote: remote('r10'), planId: ID },
        { source: 'crowd', action: 'update', appUserId: 'g7', remote: r, fields: ['email', 'lastName'], planId: ID, appUsername: 'g7-app' },
        { source: 'crowd', action: 'update', appUserId: 'h8', remote: r, fields: [], planId: ID },
        { source: 'crowd', action: 'disable', appUserId: 'i9', remote: r, planId: ID },
        { source: 'crowd', action: 'disable', appUserId: 'j10', remote: null, planId: ID },
      ]],
      ['setCursor', ID, 13],
      // Progress counts entries: d4 and the conflict need no job and are done here; the 12
      // jobs of the 11 other entries (c3 has two) count as 11, the first one adding nothing.
      ['add', 2],
      ['get', 'crowd'],
      ['wait', 'crowd', ['u0', 'u1', 'u2', 'd3', 'd4'], true],
      ...Array.from({ length: 4 }, () => ['add', 1]),
      ['get', 'app'],
      ['wait', 'app', ['a5', 'a6', 'a7', 'a8', 'a9', 'a10', 'a11'], true],
      ...Array.from({ length: 7 }, () => ['add', 1]),
    ]);
    const apply = { total: 13, enqueued: 13, succeeded: 12, skipped: 0, failed: 0, startedAt: T0, finishedAt: T0 };
    expect(result).toStrictEqual({ ...m, status: 'applied', updatedAt: T0, apply });
    expect(await store.get(ID)).toStrictEqual(result);
    expect(await store.cursor(ID)).toBe(13);
  });

  it('links an unchanged pair and takes its application fields without pushing anything', async () => {
    const r = remote('rx');
    const m = await stage([{ action: 'link', appUserId: 'x1', remoteId: 'rx', remoteName: 'x-remote', appDiff: [{ attribute: 'email', app: 'a', target: 'b' }], fields: ['email'], remote: r }]);
    const { deps, log } = world();
    await applyPlan(deps, m);
    expect(log.filter((l) => l[0] !== 'add' && l[0] !== 'phase' && l[0] !== 'setCursor')).toStrictEqual([
      ['links.update', 'crowd', 'x1', { remoteId: 'rx', remoteName: 'x-remote' }],
      ['applies', [{ source: 'crowd', action: 'update', appUserId: 'x1', remote: r, fields: ['email'], planId: ID }]],
      ['get', 'app'],
      ['wait', 'app', ['a0'], true],
    ]);
  });

  it('pushes nothing for rows that are gone or invalid, says why, and counts them as done', async () => {
    const rows = new Map([['b2', row('b2', { email: 'not-an-address' })], ['c3', row('c3')]]);
    const m = await stage([
      { action: 'create', appUserId: 'a1' },
      { action: 'update', appUserId: 'b2', diff: [{ attribute: 'email', app: 'x', target: 'y' }] },
      { action: 'update', appUserId: 'c3', diff: [{ attribute: 'email', app: 'x', target: 'y' }] },
    ]);
    const { deps, log, of } = world({ rows });
    const result = await applyPlan(deps, m);
    expect(of('warn')).toStrictEqual([
      ['warn', { appUserId: 'a1', reason: 'gone from the application' }, 'plan entry not applied'],
      ['warn', { appUserId: 'b2', reason: 'invalid application data: email: must be an e-mail address' }, 'plan entry not applied'],
    ]);
    expect(of('pushUpserts')).toStrictEqual([['pushUpserts', 'crowd', [snap('c3')], 'sync']]);
    expect(log.slice(log.findIndex((l) => l[0] === 'setCursor'))).toStrictEqual([
      ['setCursor', ID, 3], ['add', 2], ['get', 'crowd'], ['wait', 'crowd', ['u0'], true], ['add', 1],
    ]);
    // A row not pushed is neither a success nor a failure of a job.
    expect(result.apply).toStrictEqual({ total: 3, enqueued: 3, succeeded: 1, skipped: 0, failed: 0, startedAt: T0, finishedAt: T0 });
  });

  it('enqueues nothing and waits for nothing when no entry needs a job', async () => {
    const m = await stage([{ action: 'conflict', appUserId: 'a1', reason: 'x' }, { action: 'link', appUserId: 'b2', remoteId: 'rb', remoteName: 'b' }]);
    const { deps, log } = world();
    const result = await applyPlan(deps, m);
    expect(log).toStrictEqual([
      ['phase', 'applying', 2, 'crowd'],
      ['links.update', 'crowd', 'b2', { remoteId: 'rb', remoteName: 'b' }],
      ['setCursor', ID, 2],
      ['add', 2],
    ]);
    expect(result).toMatchObject({ status: 'applied', apply: { total: 2, enqueued: 2, succeeded: 0, skipped: 0, failed: 0 } });
  });

  it('counts a link entry with two jobs as one, so progress never passes the total', async () => {
    const rows = new Map([['c3', row('c3')]]);
    const m = await stage([{ action: 'link', appUserId: 'c3', remoteId: 'rc', remoteName: 'c3', diff: [{ attribute: 'email', app: 'x', target: 'y' }], fields: ['firstName'], remote: remote('rc') }]);
    const { deps, of } = world({ rows });
    const result = await applyPlan(deps, m);
    expect(of('wait').map((w) => w[2])).toStrictEqual([['u0'], ['a1']]);
    expect(of('add')).toStrictEqual([['add', 1]]);
    expect(result.apply).toMatchObject({ total: 1, succeeded: 2 });
  });

  it('counts a link entry whose push is dropped by its application update alone, once it is done', async () => {
    const m = await stage([{ action: 'link', appUserId: 'c3', remoteId: 'rc', remoteName: 'c3', diff: [{ attribute: 'email', app: 'x', target: 'y' }], fields: ['firstName'], remote: remote('rc') }]);
    const { deps, log } = world();
    await applyPlan(deps, m);
    expect(log.slice(log.findIndex((l) => l[0] === 'setCursor'))).toStrictEqual([['setCursor', ID, 1], ['get', 'app'], ['wait', 'app', ['a0'], true], ['add', 1]]);
  });

  it('counts a link entry without a diff but with application fields once its update is done', async () => {
    const m = await stage([{ action: 'link', appUserId: 'x1', remoteId: 'rx', remoteName: 'x', fields: ['email'], remote: remote('rx') }]);
    const { deps, log } = world();
    await applyPlan(deps, m);
    expect(log.slice(log.findIndex((l) => l[0] === 'setCursor'))).toStrictEqual([['setCursor', ID, 1], ['get', 'app'], ['wait', 'app', ['a0'], true], ['add', 1]]);
  });

  it('adds nothing to progress for handed-out entries when every entry has its job', async () => {
    const m = await stage([{ action: 'delete', appUserId: 'a1', remoteName: 'alice' }]);
    const { deps, of } = world();
    await applyPlan(deps, m);
    expect(of('add')).toStrictEqual([['add', 1]]);
  });
});

describe('applyPlan: chunks, tally and outcome', () => {
  const removals = (n: number, from = 0): PlanEntry[] => Array.from({ length: n }, (_, i) => ({ action: 'disable', appUserId: `u${from + i}`, remoteName: `n${from + i}` }));

  it('hands out a chunk at a time, moving the cursor before waiting, and saving the count after each chunk', async () => {
    const m = await stage(removals(5));
    const { deps, log, saves } = world({ chunkSize: 2, outcomes: { d1: 'skipped', d4: 'failed' } });
    const result = await applyPlan(deps, m);
    expect(log.filter((l) => l[0] === 'pushDeletes' || l[0] === 'setCursor' || l[0] === 'wait')).toStrictEqual([
      ['pushDeletes', 'crowd', [{ id: 'u0', username: 'n0' }, { id: 'u1', username: 'n1' }]],
      ['setCursor', ID, 2],
      ['wait', 'crowd', ['d0', 'd1'], true],
      ['pushDeletes', 'crowd', [{ id: 'u2', username: 'n2' }, { id: 'u3', username: 'n3' }]],
      ['setCursor', ID, 4],
      ['wait', 'crowd', ['d2', 'd3'], true],
      ['pushDeletes', 'crowd', [{ id: 'u4', username: 'n4' }]],
      ['setCursor', ID, 5],
      ['wait', 'crowd', ['d4'], true],
    ]);
    const base = { total: 5, startedAt: T0 };
    expect(saves.map((s) => [s.status, s.apply])).toStrictEqual([
      ['applying', { ...base, enqueued: 0, succeeded: 0, skipped: 0, failed: 0 }],
      ['applying', { ...base, enqueued: 2, succeeded: 1, skipped: 1, failed: 0 }],
      ['applying', { ...base, enqueued: 4, succeeded: 3, skipped: 1, failed: 0 }],
      ['applying', { ...base, enqueued: 5, succeeded: 3, skipped: 1, failed: 1 }],
      ['failed', { ...base, enqueued: 5, succeeded: 3, skipped: 1, failed: 1, finishedAt: T0 }],
    ]);
    expect(result).toStrictEqual({
      ...m, status: 'failed', updatedAt: T0,
      reason: "1 of the plan's jobs failed; see idsync failed list, fix the cause and run the sync again",
      apply: { ...base, enqueued: 5, succeeded: 3, skipped: 1, failed: 1, finishedAt: T0 },
    });
    expect(await store.get(ID)).toStrictEqual(result);
  });

  it('reads 1000 entries per chunk by default', async () => {
    const m = await stage(Array.from({ length: 1001 }, (_, i) => ({ action: 'conflict', appUserId: `c${i}` })));
    const entries = jest.spyOn(store, 'entries');
    const { deps, of } = world();
    await applyPlan(deps, m);
    expect(entries.mock.calls).toStrictEqual([[ID, 0, 1000], [ID, 1000, 1000]]);
    expect(of('setCursor')).toStrictEqual([['setCursor', ID, 1000], ['setCursor', ID, 1001]]);
    expect(of('add')).toStrictEqual([['add', 1000], ['add', 1]]);
  });

  it('resumes an interrupted apply at its cursor, counting on from the tally it left', async () => {
    const m = await stage(removals(4), meta({ status: 'applying', apply: { total: 4, enqueued: 2, succeeded: 1, skipped: 2, failed: 1, startedAt: 77 } }));
    await store.setCursor(ID, 2);
    const { deps, log } = world({ outcomes: { d0: 'skipped' } });
    const result = await applyPlan(deps, m);
    expect(log.filter((l) => l[0] === 'phase' || l[0] === 'pushDeletes')).toStrictEqual([
      ['phase', 'applying', 2, 'crowd'],
      ['pushDeletes', 'crowd', [{ id: 'u2', username: 'n2' }, { id: 'u3', username: 'n3' }]],
    ]);
    expect(result).toMatchObject({
      status: 'failed',
      reason: "1 of the plan's jobs failed; see idsync failed list, fix the cause and run the sync again",
      apply: { total: 4, enqueued: 4, succeeded: 2, skipped: 3, failed: 1, startedAt: 77, finishedAt: T0 },
    });
  });

  it('finishes at once an apply whose cursor is already at the end', async () => {
    const m = await stage(removals(2), meta({ status: 'applying', apply: { total: 2, enqueued: 2, succeeded: 2, skipped: 0, failed: 0, startedAt: 77 } }));
    await store.setCursor(ID, 2);
    const { deps, log } = world();
    const result = await applyPlan(deps, m);
    expect(log).toStrictEqual([['phase', 'applying', 0, 'crowd']]);
    expect(result).toStrictEqual({ ...m, status: 'applied', updatedAt: T0, apply: { total: 2, enqueued: 2, succeeded: 2, skipped: 0, failed: 0, startedAt: 77, finishedAt: T0 } });
  });

  it('applies an empty plan as applied, with nothing handed out', async () => {
    const m = await stage([]);
    const { deps, log, saves } = world();
    const result = await applyPlan(deps, m);
    expect(log).toStrictEqual([['phase', 'applying', 0, 'crowd']]);
    expect(saves[0]).toStrictEqual({ ...m, status: 'applying', apply: { total: 0, enqueued: 0, succeeded: 0, skipped: 0, failed: 0, startedAt: T0 } });
    expect(result).toStrictEqual({ ...m, status: 'applied', updatedAt: T0, apply: { total: 0, enqueued: 0, succeeded: 0, skipped: 0, failed: 0, startedAt: T0, finishedAt: T0 } });
  });

  it('names how many jobs failed', async () => {
    const m = await stage(removals(3));
    const { deps } = world({ outcomes: { d0: 'failed', d2: 'failed' } });
    const result = await applyPlan(deps, m);
    expect(result.reason).toBe("2 of the plan's jobs failed; see idsync failed list, fix the cause and run the sync again");
  });

  it('stops when waiting is cut short, with the cursor past the chunk and the last count saved', async () => {
    const m = await stage(removals(2));
    const { deps, log } = world({ waitError: new Error('worker killed') });
    await expect(applyPlan(deps, m)).rejects.toThrow('worker killed');
    expect(log.at(-1)).toStrictEqual(['wait', 'crowd', ['d0', 'd1'], true]);
    expect(await store.cursor(ID)).toBe(2);
    expect(await store.get(ID)).toStrictEqual({ ...m, status: 'applying', updatedAt: T0, apply: { total: 2, enqueued: 0, succeeded: 0, skipped: 0, failed: 0, startedAt: T0 } });
  });

  it('applies an Entra plan on the Entra queue and names Entra as the source', async () => {
    const r = { ...remote('e1'), target: 'entra' as const };
    const m = await stage([{ action: 'delete', appUserId: 'a1' }, { action: 'import', remote: r }], meta({ target: 'entra' }));
    const { deps, log } = world();
    await applyPlan(deps, m);
    expect(log.filter((l) => ['phase', 'pushDeletes', 'applies', 'get'].includes(l[0] as string))).toStrictEqual([
      ['phase', 'applying', 2, 'entra'],
      ['pushDeletes', 'entra', [{ id: 'a1' }]],
      ['applies', [{ source: 'entra', action: 'import', remote: r, planId: ID }]],
      ['get', 'entra'],
      ['get', 'app'],
    ]);
  });
});
