// One full sync of one target, driven through its dependencies: the plan is computed and
// stored on real Redis (each test under its own prefix), while the remote listing, the
// application directory, the queues and their trackers, the links, progress, the audit log
// and the logger are stand-ins that record every call. What is pinned: the plan's meta at
// each step, the removal guard and its boundaries, dry runs and plan-only runs, applying
// (fresh, stored, resumed), the incremental bookmark a completed apply moves, the audit
// entry of each outcome, and what is left when a listing fails or the run is cut short.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { Redis } from 'ioredis';
import type { AuditEntry, AuditLog } from '../../../shared/audit.js';
import { defaultAuthority, type Authority, type SyncConfig } from '../../../shared/config.js';
import type { AppField, RemoteUser, Target, UserSnapshot } from '../../../shared/jobs.js';
import type { LinkStore } from '../../../shared/links.js';
import type { Logger } from '../../../shared/logger.js';
import type { AppUser, UserDirectory } from '../../../workers/app/directory.js';
import type { SyncConnector } from '../../../workers/runtime/connector.js';
import { planEntries } from '../../../workers/runtime/process-metrics.js';
import { runFullSync, type FullSyncDeps } from '../../../workers/sync/full-sync.js';
import { bookmarkKey } from '../../../workers/sync/incremental.js';
import { PlanStore, emptyCounts, type PlanCounts, type PlanEntry, type PlanMeta, type PlanStatus } from '../../../workers/sync/plan-store.js';
import type { ProgressReporter } from '../../../workers/sync/progress.js';
import type { SyncQueues } from '../../../workers/sync/queues.js';
import type { Tally } from '../../../workers/sync/tracker.js';
import { fixDate } from '../../helpers/clock.js';
import { deletePrefix, uniquePrefix, workerRedis } from '../../helpers/redis.js';

const T0 = Date.UTC(2026, 5, 1, 12);
const PLAN_ID = /^crowd-20260601T120000Z-[0-9a-f]{6}$/;
const NOT_APPLIED = 'nothing was applied and nothing removed';

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
  prefix = uniquePrefix('full-sync-run');
});
afterEach(async () => {
  jest.useRealTimers();
  await deletePrefix(redis, prefix);
});

type Outcome = keyof Tally;
type Expected = Omit<RemoteUser, 'remoteId'>;

const app = (id: string, over: Partial<AppUser> = {}): AppUser => ({ id, username: id, email: `${id}@example.com`, active: true, version: 7, ...over });
// As the push snapshot carries them: the profile fields the row leaves unset are there, undefined.
const snap = (id: string): UserSnapshot & { version: number } => ({ id, username: id, email: `${id}@example.com`, firstName: undefined, lastName: undefined, displayName: undefined, active: true, version: 7 });
const remote = (remoteId: string, over: Partial<RemoteUser> = {}): RemoteUser => ({ target: 'crowd', remoteId, username: remoteId, email: `${remoteId}@example.com`, active: true, ...over });
const counts = (over: Partial<PlanCounts> = {}): PlanCounts => ({ ...emptyCounts(), ...over });

/** An existing link, both ways, as the link store keeps it. */
async function link(appUserId: string, remoteId: string, target: Target = 'crowd') {
  await redis.hset(`${prefix}:link:${target}:${appUserId}`, 'remoteId', remoteId, 'remoteName', remoteId);
  await redis.hset(`${prefix}:link-remote:${target}`, remoteId, appUserId);
}

/** Links of remote users that are not listed: they only raise the base of the percentage guard. */
async function idleLinks(n: number, target: Target = 'crowd') {
  for (let i = 0; i < n; i++) await redis.hset(`${prefix}:link-remote:${target}`, `idle-${i}`, `idle-app-${i}`);
}

/** `n` remote users linked to application users the listing no longer has: `n` removals. */
async function gone(n: number): Promise<RemoteUser[]> {
  const out: RemoteUser[] = [];
  for (let i = 0; i < n; i++) {
    await link(`gone-${i}`, `r-gone-${i}`);
    out.push(remote(`r-gone-${i}`));
  }
  return out;
}

/** Records what the plan store is asked, in the run's one log, and still keeps plans in Redis. */
class RecordingStore extends PlanStore {
  constructor(readonly log: unknown[][]) {
    super(redis, prefix);
  }

  override async create(meta: PlanMeta): Promise<void> {
    this.log.push(['store.create', structuredClone(meta)]);
    return super.create(meta);
  }

  override async get(id: string): Promise<PlanMeta | undefined> {
    this.log.push(['store.get', id]);
    return super.get(id);
  }

  override async save(meta: PlanMeta): Promise<PlanMeta> {
    this.log.push(['store.save', meta.status, meta.reason]);
    return super.save(meta);
  }

  override async clearEntries(id: string): Promise<void> {
    this.log.push(['store.clearEntries', id]);
    return super.clearEntries(id);
  }
}

interface Setup {
  target?: Target;
  /** Application users, listed as one page. */
  apps?: AppUser[];
  appError?: Error;
  remotes?: RemoteUser[];
  /** Thrown by the remote listing after every user in `remotes`. */
  remoteError?: Error;
  /** Runs when the remote listing starts. */
  onRemoteListing?: () => void;
  removal?: 'disable' | 'delete';
  listGroups?: boolean;
  deleteThreshold?: number;
  deleteThresholdPercent?: number;
  importUnmatched?: boolean;
  authority?: Partial<Record<AppField, Authority>>;
  /** How the tracker settles each job id; `succeeded` when not named. */
  outcomes?: Record<string, Outcome>;
  /** Thrown from every tracker wait. */
  waitError?: Error;
  /** Thrown by the application directory's reads of single users (while applying). */
  getError?: Error;
  abortSignal?: AbortSignal;
}

/** What a push of the snapshot would leave on the target. */
const plainMapping = (s: UserSnapshot & { version: number }, target: Target): Expected => ({
  target, username: s.username, email: s.email, active: s.active,
  ...(s.firstName !== undefined && { firstName: s.firstName ?? '' }),
  ...(s.lastName !== undefined && { lastName: s.lastName ?? '' }),
});

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
    async *listUsers(options: { groups?: boolean; abortSignal?: AbortSignal }) {
      log.push(['listUsers', { groups: options.groups, abortSignal: options.abortSignal === signal }]);
      s.onRemoteListing?.();
      for (const r of s.remotes ?? []) {
        signal.throwIfAborted();
        yield structuredClone(r);
      }
      if (s.remoteError) throw s.remoteError;
    },
    async expectedRemote(snapshot: UserSnapshot & { version: number }) {
      return plainMapping(snapshot, target);
    },
    async appUsername(r: RemoteUser) {
      return r.username;
    },
  } as unknown as SyncConnector;
  const directory = {
    async *list(options: { pageSize?: number; abortSignal?: AbortSignal }) {
      log.push(['directory.list', { pageSize: options.pageSize, abortSignal: options.abortSignal === signal }]);
      if (s.appError) throw s.appError;
      yield [...apps.values()].map((u) => structuredClone(u));
    },
    async get(id: string) {
      if (s.getError) throw s.getError;
      return structuredClone(apps.get(id) ?? null);
    },
  } as unknown as UserDirectory;
  const queues = {
    async pushUpserts(t: Target, users: (UserSnapshot & { version: number })[], origin: string) {
      log.push(['pushUpserts', t, structuredClone(users), origin]);
      return ids('u', users.length);
    },
    async pushDeletes(t: Target, users: { id: string; username?: string }[]) {
      log.push(['pushDeletes', t, structuredClone(users)]);
      return ids('d', users.length);
    },
    async applies(changes: unknown[]) {
      log.push(['applies', structuredClone(changes)]);
      return ids('a', changes.length);
    },
    async get(name: Target | 'app') {
      return {
        tracker: {
          async wait(jobIds: string[], onSettled: (o: Outcome) => void, options: { abortSignal?: AbortSignal }) {
            log.push(['wait', name, [...jobIds], options.abortSignal === signal]);
            if (s.waitError) throw s.waitError;
            const tally: Tally = { succeeded: 0, skipped: 0, failed: 0 };
            for (const id of jobIds) {
              const o = s.outcomes?.[id] ?? 'succeeded';
              tally[o] += 1;
              onSettled(o);
            }
            return tally;
          },
        },
      };
    },
  } as unknown as SyncQueues;
  const links = {
    async update(t: Target, appUserId: string, update: unknown) {
      log.push(['links.update', t, appUserId, update]);
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
    info(fields: unknown, msg: string) {
      log.push(['info', structuredClone(fields), msg]);
    },
    warn(fields: unknown, msg: string) {
      log.push(['warn', structuredClone(fields), msg]);
    },
    error(fields: unknown, msg: string) {
      log.push(['error', structuredClone(fields), msg]);
    },
  } as unknown as Logger;
  const audit = {
    async append(entry: AuditEntry) {
      log.push(['audit', structuredClone(entry)]);
      return '1-0';
    },
  } as unknown as AuditLog;
  // The other target owns everything: reading its authority instead would change the plan.
  const everything = Object.fromEntries(Object.keys(defaultAuthority(target)).map((f) => [f, 'target'])) as Record<AppField, Authority>;
  const sync: SyncConfig = {
    deleteThreshold: s.deleteThreshold ?? 10,
    deleteThresholdPercent: s.deleteThresholdPercent ?? 100,
    matchAttributes: ['username', 'email'],
    importUnmatched: s.importUnmatched ?? false,
    authority: { [target]: { ...defaultAuthority(target), ...s.authority }, [other]: everything } as SyncConfig['authority'],
    fullSchedule: undefined,
    incrementalSchedule: undefined,
    timezone: 'UTC',
  };
  const store = new RecordingStore(log);
  const deps: FullSyncDeps = {
    redis, prefix, target, connector, directory, links, queues, sync, progress, logger, audit, store, abortSignal: signal,
    removal: s.removal ?? 'disable', listGroups: s.listGroups ?? false,
  };
  const of = (...kinds: string[]) => log.filter((l) => kinds.includes(l[0] as string));
  // The test reads plans through a store of its own, so its reads stay out of the log.
  return { deps, log, store: new PlanStore(redis, prefix), of };
}

const bookmark = async (target: Target = 'crowd') => redis.get(bookmarkKey(prefix, target));
const jobKey = (jobId: string, target: Target = 'crowd') => `${prefix}:plan-of-job:${target}:${jobId}`;

/** The meta a fresh plan starts with, before anything is counted. */
const fresh = (id: string, over: Partial<PlanMeta> = {}): PlanMeta => ({
  id, target: 'crowd', status: 'planning', dryRun: false, createdAt: T0, updatedAt: T0, counts: emptyCounts(), linked: 0, removals: 0,
  threshold: { absolute: 10, percent: 100 }, ...over,
});

const auditEntry = (subject: string, status: AuditEntry['status'], over: Partial<AuditEntry> = {}): AuditEntry => ({
  time: T0, target: 'crowd', operation: 'full-sync', resource: 'plan', subject, status, attempt: 1, durationMs: 0, ...over,
});

async function gauge(target: Target): Promise<Record<string, number>> {
  const { values } = await planEntries.get();
  return Object.fromEntries(values.filter((v) => v.labels.target === target).map((v) => [v.labels.action, v.value]));
}

describe('runFullSync: planning a new plan', () => {
  it('plans and applies in apply mode: a link, a removal and a create, then moves the bookmark and audits success', async () => {
    await link('gone-0', 'r9');
    const { deps, log, store } = world({
      apps: [app('a1'), app('b1')],
      remotes: [remote('b1'), remote('r9')],
      // Planning takes 1.5 s: what is stamped then differs from what is stamped at the start.
      onRemoteListing: () => jest.setSystemTime(T0 + 1500),
    });
    const result = await runFullSync(deps, { mode: 'apply' });

    const id = result.id;
    expect(id).toMatch(PLAN_ID);
    const planned: PlanMeta = { ...fresh(id), status: 'planned', updatedAt: T0 + 1500, counts: counts({ create: 1, link: 1, disable: 1 }), linked: 1, removals: 1 };
    const apply = { total: 3, enqueued: 3, succeeded: 2, skipped: 0, failed: 0, startedAt: T0 + 1500, finishedAt: T0 + 1500 };
    expect(result).toStrictEqual({ ...planned, status: 'applied', apply });
    expect(await store.get(id)).toStrictEqual(result);
    expect(log).toStrictEqual([
      ['store.create', fresh(id)],
      ['phase', 'listing', undefined, 'crowd'],
      ['directory.list', { pageSize: 1000, abortSignal: true }],
      ['add', 2],
      ['phase', 'planning', undefined, 'crowd'],
      ['listUsers', { groups: false, abortSignal: true }],
      ['add', 2],
      ['store.save', 'planned', undefined],
      ['info', { planId: id, status: 'planned', counts: counts({ create: 1, link: 1, disable: 1 }) }, 'full sync planned'],
      ['store.save', 'applying', undefined],
      ['phase', 'applying', 3, 'crowd'],
      ['links.update', 'crowd', 'b1', { remoteId: 'b1', remoteName: 'b1' }],
      ['pushUpserts', 'crowd', [snap('a1')], 'sync'],
      ['pushDeletes', 'crowd', [{ id: 'gone-0', username: 'r9' }]],
      ['add', 1],
      ['wait', 'crowd', ['u0', 'd1'], true],
      ['add', 1],
      ['add', 1],
      ['store.save', 'applying', undefined],
      ['store.save', 'applied', undefined],
      ['audit', auditEntry(id, 'succeeded', { time: T0 + 1500, durationMs: 1500 })],
    ]);
    // Incremental pulls need look back no further than when this plan was made.
    expect(await bookmark()).toBe(String(T0));
    expect(await redis.zrange(`${prefix}:plans`, 0, -1, 'WITHSCORES')).toStrictEqual([id, String(T0)]);
    expect(await gauge('crowd')).toStrictEqual(counts({ create: 1, link: 1, disable: 1 }));
  });

  it('stores a plan-only run as planned and applies nothing', async () => {
    await link('gone-0', 'r9');
    const { deps, log, store } = world({ apps: [app('a1')], remotes: [remote('r9')] });
    const result = await runFullSync(deps, { mode: 'plan' });
    const planned: PlanMeta = { ...fresh(result.id), status: 'planned', counts: counts({ create: 1, disable: 1 }), linked: 1, removals: 1 };
    expect(result).toStrictEqual(planned);
    expect(await store.get(result.id)).toStrictEqual(planned);
    expect(log.slice(log.findIndex((l) => l[0] === 'store.save'))).toStrictEqual([
      ['store.save', 'planned', undefined],
      ['info', { planId: result.id, status: 'planned', counts: counts({ create: 1, disable: 1 }) }, 'full sync planned'],
      ['audit', auditEntry(result.id, 'skipped')],
    ]);
    expect(await store.entryCount(result.id)).toBe(2);
    expect(await bookmark()).toBeNull();
  });

  it('stores a dry run as a dry-run plan and applies nothing', async () => {
    const { deps, of } = world({ apps: [app('a1')] });
    const result = await runFullSync(deps, { mode: 'dry-run' });
    expect(result).toStrictEqual({ ...fresh(result.id), dryRun: true, status: 'planned', counts: counts({ create: 1 }) });
    expect(of('pushUpserts', 'pushDeletes', 'applies', 'wait', 'store.create')).toStrictEqual([['store.create', fresh(result.id, { dryRun: true })]]);
    expect(of('audit')).toStrictEqual([['audit', auditEntry(result.id, 'skipped')]]);
    expect(await bookmark()).toBeNull();
  });

  it('keeps the cron slot the run belongs to, and reads groups when asked', async () => {
    const { deps, of } = world({ listGroups: true });
    const result = await runFullSync(deps, { mode: 'plan', slot: '2026-06-01T12:00' });
    expect(result).toStrictEqual({ ...fresh(result.id), slot: '2026-06-01T12:00', status: 'planned' });
    expect(of('listUsers')).toStrictEqual([['listUsers', { groups: true, abortSignal: true }]]);
  });

  it('records the configured guard on the plan and plans the target it was given', async () => {
    await link('gone-0', 'e9', 'entra');
    const { deps, of } = world({ target: 'entra', remotes: [remote('e9', { target: 'entra' })], removal: 'delete', deleteThreshold: 7, deleteThresholdPercent: 250 });
    const result = await runFullSync(deps, { mode: 'plan' });
    expect(result.id).toMatch(/^entra-20260601T120000Z-[0-9a-f]{6}$/);
    expect(result).toStrictEqual({
      ...fresh(result.id), target: 'entra', status: 'planned', counts: counts({ delete: 1 }), linked: 1, removals: 1, threshold: { absolute: 7, percent: 250 },
    });
    expect(of('audit')).toStrictEqual([['audit', auditEntry(result.id, 'skipped', { target: 'entra' })]]);
    expect(await gauge('entra')).toStrictEqual(counts({ delete: 1 }));
  });

  it('applies nothing and moves no bookmark when some of the plan\'s jobs fail, and audits the failure', async () => {
    await redis.set(bookmarkKey(prefix, 'crowd'), '5');
    const { deps, of } = world({ apps: [app('a1'), app('b1')], outcomes: { u1: 'failed' } });
    const result = await runFullSync(deps, { mode: 'apply' });
    const reason = "1 of the plan's jobs failed; see idsync failed list, fix the cause and run the sync again";
    expect(result).toMatchObject({ status: 'failed', reason, apply: { total: 2, enqueued: 2, succeeded: 1, skipped: 0, failed: 1 } });
    expect(of('audit')).toStrictEqual([['audit', auditEntry(result.id, 'failed', { error: reason })]]);
    expect(await bookmark()).toBe('5');
  });

  it('never moves the bookmark back', async () => {
    await redis.set(bookmarkKey(prefix, 'crowd'), String(T0 + 60_000));
    const { deps } = world({ apps: [app('a1')] });
    expect(await runFullSync(deps, { mode: 'apply' })).toMatchObject({ status: 'applied' });
    expect(await bookmark()).toBe(String(T0 + 60_000));
  });

  it('moves an older bookmark up to when the applied plan was made', async () => {
    await redis.set(bookmarkKey(prefix, 'crowd'), String(T0 - 1));
    const { deps } = world({ apps: [app('a1')], onRemoteListing: () => jest.setSystemTime(T0 + 900) });
    expect(await runFullSync(deps, { mode: 'apply' })).toMatchObject({ status: 'applied', createdAt: T0 });
    expect(await bookmark()).toBe(String(T0));
  });
});

describe('runFullSync: the removal guard', () => {
  const staged = (removals: number, threshold: number, percent: number, linked: number, id: string) =>
    `${removals} removals exceed the guard (${threshold} users or ${percent} % of ${linked} linked users): waiting for an operator (idsync sync approve ${id})`;

  it('stages a plan with more removals than the threshold, applies nothing and audits it as skipped', async () => {
    const remotes = await gone(4);
    await idleLinks(36);
    const { deps, of, store } = world({ remotes, deleteThreshold: 3, deleteThresholdPercent: 10 });
    const result = await runFullSync(deps, { mode: 'apply' });
    const reason = staged(4, 3, 10, 40, result.id);
    expect(result).toStrictEqual({
      ...fresh(result.id), status: 'staged', reason, counts: counts({ disable: 4 }), linked: 40, removals: 4, threshold: { absolute: 3, percent: 10 },
    });
    expect(await store.get(result.id)).toStrictEqual(result);
    expect(of('store.save', 'info', 'audit', 'pushDeletes', 'wait')).toStrictEqual([
      ['store.save', 'staged', reason],
      ['info', { planId: result.id, status: 'staged', counts: counts({ disable: 4 }) }, 'full sync planned'],
      ['audit', auditEntry(result.id, 'skipped', { error: reason })],
    ]);
    expect(await bookmark()).toBeNull();
  });

  it('lets through as many removals as the threshold, when the percentage allows them too', async () => {
    // 3 of 30 links is exactly 10 %.
    const remotes = await gone(3);
    await idleLinks(27);
    const { deps, of } = world({ remotes, deleteThreshold: 3, deleteThresholdPercent: 10 });
    const result = await runFullSync(deps, { mode: 'apply' });
    expect(result).toMatchObject({ status: 'applied', linked: 30, removals: 3 });
    expect(result.reason).toBeUndefined();
    expect(of('pushDeletes')).toStrictEqual([['pushDeletes', 'crowd', [0, 1, 2].map((i) => ({ id: `gone-${i}`, username: `r-gone-${i}` }))]]);
  });

  it('stages removals above the percentage of linked users even under the absolute threshold', async () => {
    // 3 of 29 links is just over 10 %.
    const remotes = await gone(3);
    await idleLinks(26);
    const { deps, of } = world({ remotes, deleteThreshold: 100, deleteThresholdPercent: 10 });
    const result = await runFullSync(deps, { mode: 'apply' });
    expect(result).toMatchObject({ status: 'staged', reason: staged(3, 100, 10, 29, result.id), linked: 29, removals: 3 });
    expect(of('pushDeletes')).toStrictEqual([]);
  });

  it('counts deletions, not only disables, as removals', async () => {
    const remotes = await gone(2);
    const { deps } = world({ remotes, removal: 'delete', deleteThreshold: 1 });
    const result = await runFullSync(deps, { mode: 'plan' });
    expect(result).toMatchObject({ status: 'staged', counts: counts({ delete: 2 }), removals: 2, reason: staged(2, 1, 100, 2, result.id) });
  });

  it('counts application users the target disables as removals', async () => {
    // The target owns the lifecycle and the linked remote users are gone: the app disables them.
    await redis.hset(`${prefix}:link:crowd:a1`, 'remoteId', 'r-a1');
    await redis.hset(`${prefix}:link:crowd:b1`, 'remoteId', 'r-b1');
    const { deps } = world({ apps: [app('a1'), app('b1')], authority: { active: 'target' }, deleteThreshold: 1 });
    const result = await runFullSync(deps, { mode: 'plan' });
    // Only the forward link is there, so none counts as linked.
    expect(result).toMatchObject({ status: 'staged', counts: counts({ appDisable: 2 }), removals: 2, linked: 0, reason: staged(2, 1, 100, 0, result.id) });
  });

  it('takes no linked users as one for the percentage: 100 % lets one removal through, 99 % stages it', async () => {
    await redis.hset(`${prefix}:link:crowd:a1`, 'remoteId', 'r-a1');
    const first = world({ apps: [app('a1')], authority: { active: 'target' }, deleteThresholdPercent: 100 });
    expect(await runFullSync(first.deps, { mode: 'plan' })).toMatchObject({ status: 'planned', linked: 0, removals: 1 });
    const second = world({ apps: [app('a1')], authority: { active: 'target' }, deleteThresholdPercent: 99 });
    const result = await runFullSync(second.deps, { mode: 'plan' });
    expect(result).toMatchObject({ status: 'staged', reason: staged(1, 10, 99, 0, result.id) });
  });

  it('never stages a plan without removals, whatever the guard', async () => {
    const { deps } = world({ apps: [app('a1')], deleteThreshold: 0, deleteThresholdPercent: 0 });
    expect(await runFullSync(deps, { mode: 'apply' })).toMatchObject({ status: 'applied', removals: 0 });
  });
});

describe('runFullSync: a listing that fails', () => {
  it('fails the plan with no entries when the remote listing fails after a stored batch, and audits why', async () => {
    // 500 users make one stored batch of imports before the listing breaks.
    const remotes = Array.from({ length: 500 }, (_, i) => remote(`new-${i}`));
    const { deps, log, store } = world({
      remotes, importUnmatched: true, remoteError: new Error('Crowd answered 503'), onRemoteListing: () => jest.setSystemTime(T0 + 2000),
    });
    const result = await runFullSync(deps, { mode: 'apply' });
    const reason = `Crowd answered 503; ${NOT_APPLIED}`;
    expect(result).toStrictEqual({ ...fresh(result.id), status: 'failed', reason, updatedAt: T0 + 2000 });
    expect(await store.get(result.id)).toStrictEqual(result);
    expect(await store.entryCount(result.id)).toBe(0);
    expect(log.slice(log.findIndex((l) => l[0] === 'listUsers') + 1)).toStrictEqual([
      ['add', 500],
      ['store.clearEntries', result.id],
      ['error', { planId: result.id, reason }, 'full sync failed while planning'],
      ['store.save', 'failed', reason],
      ['audit', auditEntry(result.id, 'failed', { time: T0 + 2000, durationMs: 2000, error: reason })],
    ]);
    // Nothing is left of the plan's scratch index either.
    expect((await redis.keys(`${prefix}:plan:*`)).sort()).toStrictEqual([`${prefix}:plan:${result.id}`]);
    expect(await bookmark()).toBeNull();
  });

  it('fails the plan when the application listing fails, before the remote is listed', async () => {
    const remotes = await gone(1);
    const { deps, of } = world({ remotes, appError: new Error('connection to the application database lost') });
    const result = await runFullSync(deps, { mode: 'apply' });
    expect(result).toStrictEqual({ ...fresh(result.id), status: 'failed', reason: `connection to the application database lost; ${NOT_APPLIED}` });
    expect(of('listUsers', 'pushDeletes', 'info')).toStrictEqual([]);
  });

  it('keeps secrets out of the reason it stores, logs and audits', async () => {
    const { deps, of } = world({ remoteError: new Error('login refused: password=hunter2') });
    const result = await runFullSync(deps, { mode: 'plan' });
    const reason = `login refused: password=[Redacted]; ${NOT_APPLIED}`;
    expect(result.reason).toBe(reason);
    expect(of('error', 'audit')).toStrictEqual([
      ['error', { planId: result.id, reason }, 'full sync failed while planning'],
      ['audit', auditEntry(result.id, 'failed', { error: reason })],
    ]);
  });

  it('fails the plan when planning is aborted, with nothing removed', async () => {
    const controller = new AbortController();
    const remotes = await gone(2);
    const { deps, of } = world({ remotes, abortSignal: controller.signal, onRemoteListing: () => controller.abort(new Error('shutting down')) });
    const result = await runFullSync(deps, { mode: 'apply' });
    expect(result).toMatchObject({ status: 'failed', reason: `shutting down; ${NOT_APPLIED}`, counts: emptyCounts(), removals: 0 });
    expect(of('pushDeletes', 'wait')).toStrictEqual([]);
  });
});

describe('runFullSync: an apply cut short', () => {
  it('rejects with nothing handed out when the application cannot be read while applying', async () => {
    const { deps, of, store } = world({ apps: [app('a1')], getError: new Error('connection to the application database lost') });
    await expect(runFullSync(deps, { mode: 'apply' })).rejects.toThrow('connection to the application database lost');
    const [[, created]] = of('store.create') as [[string, PlanMeta]];
    // A re-run of the job resumes this plan from its first entry.
    expect(await store.get(created.id)).toMatchObject({ status: 'applying', apply: { total: 1, enqueued: 0 } });
    expect(await store.cursor(created.id)).toBe(0);
    expect(of('pushUpserts', 'wait', 'audit')).toStrictEqual([]);
    expect(await bookmark()).toBeNull();
  });


  it('rejects with the plan left applying, audits nothing and moves no bookmark', async () => {
    const { deps, of, store } = world({ apps: [app('a1')], waitError: new Error('worker killed') });
    await expect(runFullSync(deps, { mode: 'apply' })).rejects.toThrow('worker killed');
    const [[, created]] = of('store.create') as [[string, PlanMeta]];
    expect(await store.get(created.id)).toMatchObject({ status: 'applying', apply: { total: 1, enqueued: 0 } });
    expect(await store.cursor(created.id)).toBe(1);
    expect(of('audit')).toStrictEqual([]);
    expect(await bookmark()).toBeNull();
  });
});

describe('runFullSync: a stored plan', () => {
  const ID = 'crowd-20260601T110000Z-abcdef';
  const stored = (over: Partial<PlanMeta> = {}): PlanMeta => ({
    ...fresh(ID), status: 'approved', createdAt: T0 - 3_600_000, updatedAt: T0 - 60_000, counts: counts({ create: 1 }), ...over,
  });
  async function stage(m: PlanMeta, entries: PlanEntry[] = [{ action: 'create', appUserId: 'a1' }]): Promise<PlanMeta> {
    const s = new PlanStore(redis, prefix);
    await s.create(m);
    await s.appendEntries(m.id, entries);
    return m;
  }

  it.each(['planned', 'approved', 'applying'] as const)('applies a %s plan without planning again, then moves the bookmark and audits success', async (status) => {
    const m = await stage(stored({ status }));
    const { deps, log } = world({ apps: [app('a1')] });
    const result = await runFullSync(deps, { mode: 'apply', planId: ID, jobId: 'job-1' });
    const apply = { total: 1, enqueued: 1, succeeded: 1, skipped: 0, failed: 0, startedAt: T0, finishedAt: T0 };
    expect(result).toStrictEqual({ ...m, status: 'applied', updatedAt: T0, apply });
    expect(log).toStrictEqual([
      ['store.get', ID],
      ['store.save', 'applying', undefined],
      ['phase', 'applying', 1, 'crowd'],
      ['pushUpserts', 'crowd', [snap('a1')], 'sync'],
      ['wait', 'crowd', ['u0'], true],
      ['add', 1],
      ['store.save', 'applying', undefined],
      ['store.save', 'applied', undefined],
      ['audit', auditEntry(ID, 'succeeded', { durationMs: 3_600_000 })],
    ]);
    expect(await bookmark()).toBe(String(T0 - 3_600_000));
    // A stored plan is not the job's own: nothing remembers it under the job.
    expect(await redis.exists(jobKey('job-1'))).toBe(0);
  });

  it('audits a stored plan whose jobs failed as failed and moves no bookmark', async () => {
    await stage(stored());
    const { deps, of } = world({ apps: [app('a1')], outcomes: { u0: 'failed' } });
    const result = await runFullSync(deps, { mode: 'apply', planId: ID });
    const reason = "1 of the plan's jobs failed; see idsync failed list, fix the cause and run the sync again";
    expect(result).toMatchObject({ status: 'failed', reason });
    expect(of('audit')).toStrictEqual([['audit', auditEntry(ID, 'failed', { durationMs: 3_600_000, error: reason })]]);
    expect(await bookmark()).toBeNull();
  });

  it('refuses a plan that is not there', async () => {
    const { deps, log } = world();
    await expect(runFullSync(deps, { mode: 'apply', planId: 'crowd-missing' })).rejects.toThrow(new Error('no plan crowd-missing (plans are kept 30 days)'));
    expect(log).toStrictEqual([['store.get', 'crowd-missing']]);
  });

  it('refuses a dry run, naming the command that plans for real', async () => {
    await stage(stored({ status: 'planned', dryRun: true }));
    const { deps, log } = world();
    await expect(runFullSync(deps, { mode: 'apply', planId: ID })).rejects.toThrow(new Error(`plan ${ID} is a dry run and is never applied; run idsync sync run crowd`));
    expect(log).toStrictEqual([['store.get', ID]]);
  });

  it('refuses a plan of the other target, reading nothing else', async () => {
    await stage(stored());
    const { deps, log } = world({ target: 'entra' });
    await expect(runFullSync(deps, { mode: 'apply', planId: ID })).rejects.toThrow(new Error(`plan ${ID} is a plan of crowd and is never applied to entra`));
    expect(log).toStrictEqual([['store.get', ID]]);
  });

  it('refuses a staged plan until an operator approves it', async () => {
    await stage(stored({ status: 'staged' }));
    const { deps, log } = world();
    await expect(runFullSync(deps, { mode: 'apply', planId: ID })).rejects.toThrow(new Error(`plan ${ID} is staged and cannot be applied before an operator approves it`));
    expect(log).toStrictEqual([['store.get', ID]]);
  });

  it.each(['planning', 'applied', 'rejected', 'failed'] as const)('refuses a %s plan', async (status: PlanStatus) => {
    await stage(stored({ status }));
    const { deps, log } = world();
    await expect(runFullSync(deps, { mode: 'apply', planId: ID })).rejects.toThrow(new Error(`plan ${ID} is ${status} and cannot be applied`));
    expect(log).toStrictEqual([['store.get', ID]]);
  });
});

describe('runFullSync: a job that runs again', () => {
  it('remembers the plan it made under the job for seven days', async () => {
    const { deps, log } = world();
    const result = await runFullSync(deps, { mode: 'plan', jobId: 'job-1' });
    expect(await redis.get(jobKey('job-1'))).toBe(result.id);
    expect(await redis.ttl(jobKey('job-1'))).toBe(7 * 86_400);
    // Nothing was remembered yet: the lookup finds no plan.
    expect(log.slice(0, 2)).toStrictEqual([['store.get', ''], ['store.create', fresh(result.id)]]);
  });

  it('remembers nothing without a job id, and looks nothing up', async () => {
    const { deps, of } = world();
    await runFullSync(deps, { mode: 'plan' });
    expect(of('store.get')).toStrictEqual([]);
    expect(await redis.keys(`${prefix}:plan-of-job:*`)).toStrictEqual([]);
  });

  it.each(['planned', 'staged', 'approved', 'applied', 'failed', 'rejected'] as const)('returns its earlier %s plan as it is, planning nothing', async (status) => {
    const earlier = { ...fresh('crowd-earlier'), status, counts: counts({ create: 1 }) };
    await new PlanStore(redis, prefix).create(earlier);
    await redis.set(jobKey('job-1'), 'crowd-earlier');
    const { deps, log } = world({ apps: [app('a1')] });
    expect(await runFullSync(deps, { mode: 'apply', jobId: 'job-1' })).toStrictEqual(earlier);
    expect(log).toStrictEqual([['store.get', 'crowd-earlier']]);
  });

  it('finishes applying its earlier plan where it stopped', async () => {
    const earlier: PlanMeta = {
      ...fresh('crowd-earlier'), status: 'applying', counts: counts({ create: 2 }),
      apply: { total: 2, enqueued: 1, succeeded: 1, skipped: 0, failed: 0, startedAt: T0 - 5 },
    };
    const s = new PlanStore(redis, prefix);
    await s.create(earlier);
    await s.appendEntries(earlier.id, [{ action: 'create', appUserId: 'a1' }, { action: 'create', appUserId: 'b1' }]);
    await s.setCursor(earlier.id, 1);
    await redis.set(jobKey('job-1'), earlier.id);
    const { deps, of } = world({ apps: [app('a1'), app('b1')] });
    const result = await runFullSync(deps, { mode: 'apply', jobId: 'job-1' });
    expect(result).toStrictEqual({ ...earlier, status: 'applied', apply: { total: 2, enqueued: 2, succeeded: 2, skipped: 0, failed: 0, startedAt: T0 - 5, finishedAt: T0 } });
    expect(of('store.get', 'store.create', 'listUsers', 'pushUpserts', 'audit')).toStrictEqual([
      ['store.get', 'crowd-earlier'],
      ['store.get', 'crowd-earlier'],
      ['pushUpserts', 'crowd', [snap('b1')], 'sync'],
      ['audit', auditEntry('crowd-earlier', 'succeeded')],
    ]);
    expect(await bookmark()).toBe(String(T0));
  });

  it('fails an earlier plan left planning and plans again, remembering the new plan', async () => {
    const earlier = fresh('crowd-earlier', { createdAt: T0 - 10, updatedAt: T0 - 10 });
    const s = new PlanStore(redis, prefix);
    await s.create(earlier);
    await redis.set(jobKey('job-1'), earlier.id);
    const { deps, log } = world({ apps: [app('a1')] });
    const result = await runFullSync(deps, { mode: 'plan', jobId: 'job-1' });
    const reason = 'interrupted while planning (its worker stopped); planned again by the same job';
    expect(await s.get('crowd-earlier')).toStrictEqual({ ...earlier, status: 'failed', reason, updatedAt: T0 });
    expect(log.slice(0, 3)).toStrictEqual([['store.get', 'crowd-earlier'], ['store.save', 'failed', reason], ['store.create', fresh(result.id)]]);
    expect(result).toStrictEqual({ ...fresh(result.id), status: 'planned', counts: counts({ create: 1 }) });
    expect(await redis.get(jobKey('job-1'))).toBe(result.id);
  });

  it('plans again when the plan it remembered has expired', async () => {
    await redis.set(jobKey('job-1'), 'crowd-expired');
    const { deps, log } = world();
    const result = await runFullSync(deps, { mode: 'plan', jobId: 'job-1' });
    expect(log.slice(0, 2)).toStrictEqual([['store.get', 'crowd-expired'], ['store.create', fresh(result.id)]]);
    expect(result.status).toBe('planned');
    expect(await redis.get(jobKey('job-1'))).toBe(result.id);
  });

  it('keeps one job\'s plan apart from another target\'s and another job\'s', async () => {
    await redis.set(jobKey('job-1', 'entra'), 'entra-other');
    await redis.set(jobKey('job-2'), 'crowd-other');
    const { deps, log } = world();
    const result = await runFullSync(deps, { mode: 'plan', jobId: 'job-1' });
    expect(log[0]).toStrictEqual(['store.get', '']);
    expect(await redis.get(jobKey('job-1'))).toBe(result.id);
  });
});
