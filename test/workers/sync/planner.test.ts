// How a full-sync plan is computed for one target, on real Redis but with hand-made listings:
// which remote user pairs with which application user (link, stable id, correlation values),
// what each pair turns into (link, update, appUpdate, appDisable, removal, conflict, import),
// and what happens to the application users nobody claimed. Plans drive writes and removals,
// so each entry and each count is asserted whole.
import type { Redis } from 'ioredis';
import { defaultAuthority, type Authority, type SyncConfig } from '../../../shared/config.js';
import { silentLogger } from '../../../shared/logger.js';
import type { AppField, RemoteUser, Target, UserSnapshot } from '../../../shared/jobs.js';
import type { AppUser, UserDirectory } from '../../../workers/app/directory.js';
import type { SyncConnector } from '../../../workers/runtime/connector.js';
import { emptyCounts, type PlanCounts, type PlanEntry, type PlanStore } from '../../../workers/sync/plan-store.js';
import { computePlan, type PlannerDeps } from '../../../workers/sync/planner.js';
import type { ProgressReporter } from '../../../workers/sync/progress.js';
import { deletePrefix, uniquePrefix, workerRedis } from '../../helpers/redis.js';

type Expected = Omit<RemoteUser, 'remoteId'>;

interface Setup {
  target?: Target;
  /** Application users, page by page as the directory lists them. */
  pages?: AppUser[][];
  remotes?: RemoteUser[];
  removal?: 'disable' | 'delete';
  listGroups?: boolean;
  importUnmatched?: boolean;
  matchAttributes?: ('username' | 'email')[];
  authority?: Partial<Record<AppField, Authority>>;
  expectedRemote?: (s: UserSnapshot & { version: number }, target: Target) => Expected;
  appUsername?: (r: RemoteUser) => string;
  listError?: Error;
  /** Runs when the remote listing starts, i.e. once the application side is indexed. */
  onRemoteListing?: () => Promise<void>;
  /** Runs on every stored batch of entries. */
  onAppend?: () => Promise<void>;
}

const PLAN = 'crowd-20250101T000000Z-abcdef';
const controller = new AbortController();
const signal = controller.signal;

let redis: Redis;
let prefix: string;

beforeAll(() => {
  redis = workerRedis();
});
afterAll(async () => {
  await redis.quit();
});
beforeEach(() => {
  prefix = uniquePrefix('planner');
});
afterEach(() => deletePrefix(redis, prefix));

const app = (id: string, over: Partial<AppUser> = {}): AppUser => ({ id, username: id, email: `${id}@example.com`, active: true, version: 7, ...over });
const remote = (remoteId: string, over: Partial<RemoteUser> = {}): RemoteUser => ({ target: 'crowd', remoteId, username: remoteId, email: `${remoteId}@example.com`, active: true, ...over });
const counts = (over: Partial<PlanCounts> = {}): PlanCounts => ({ ...emptyCounts(), ...over });

/** What a push of the snapshot would leave on the target, as the connectors report it. */
const plainMapping = (s: UserSnapshot & { version: number }, target: Target): Expected => ({
  target,
  username: s.username,
  email: s.email,
  ...(s.firstName !== undefined && { firstName: s.firstName ?? '' }),
  ...(s.lastName !== undefined && { lastName: s.lastName ?? '' }),
  ...(s.displayName !== undefined && { displayName: s.displayName ?? '' }),
  active: s.active,
  ...(s.groups && { groups: s.groups }),
  ...(s.attributes && { attributes: s.attributes }),
});

/** An existing link, both ways, as the link store keeps it. */
async function link(appUserId: string, remoteId: string, target: Target = 'crowd') {
  await redis.hset(`${prefix}:link:${target}:${appUserId}`, 'remoteId', remoteId, 'remoteName', remoteId);
  await redis.hset(`${prefix}:link-remote:${target}`, remoteId, appUserId);
}

async function plan(setup: Setup = {}) {
  const target = setup.target ?? 'crowd';
  const other: Target = target === 'crowd' ? 'entra' : 'crowd';
  const rec = {
    progress: [] as unknown[][],
    appended: [] as [string, PlanEntry[]][],
    appListing: [] as unknown[],
    remoteListing: [] as unknown[],
    expectedRemote: [] as unknown[][],
    appUsername: [] as unknown[][],
  };
  const directory = {
    async *list(options: unknown) {
      rec.appListing.push(options);
      for (const page of setup.pages ?? []) yield page.map((u) => structuredClone(u));
    },
  } as unknown as UserDirectory;
  const connector = {
    target,
    async *listUsers(options: unknown) {
      rec.remoteListing.push(options);
      await setup.onRemoteListing?.();
      for (const r of setup.remotes ?? []) yield structuredClone(r);
      if (setup.listError) throw setup.listError;
    },
    async expectedRemote(...args: [UserSnapshot & { version: number }, unknown?]) {
      rec.expectedRemote.push(args);
      return (setup.expectedRemote ?? plainMapping)(args[0], target);
    },
    async appUsername(...args: [RemoteUser, unknown?]) {
      rec.appUsername.push(args);
      return (setup.appUsername ?? ((r: RemoteUser) => `app-${r.username}`))(args[0]);
    },
  } as unknown as SyncConnector;
  const progress = {
    async phase(...args: unknown[]) {
      rec.progress.push(['phase', ...args]);
    },
    async add(n: number) {
      rec.progress.push(['add', n]);
    },
  } as unknown as ProgressReporter;
  const store = {
    async appendEntries(id: string, entries: PlanEntry[]) {
      rec.appended.push([id, structuredClone(entries)]);
      await setup.onAppend?.();
    },
  } as unknown as PlanStore;
  // The other target owns everything: reading its authority instead would change every result.
  const everything = Object.fromEntries(Object.keys(defaultAuthority(target)).map((f) => [f, 'target'])) as Record<AppField, Authority>;
  const sync: SyncConfig = {
    deleteThreshold: 10,
    deleteThresholdPercent: 10,
    matchAttributes: setup.matchAttributes ?? ['username', 'email'],
    importUnmatched: setup.importUnmatched ?? false,
    authority: { [target]: { ...defaultAuthority(target), ...setup.authority }, [other]: everything } as SyncConfig['authority'],
    fullSchedule: undefined,
    incrementalSchedule: undefined,
    timezone: 'UTC',
  };
  const deps: PlannerDeps = {
    redis, prefix, target, connector, directory, sync, progress, logger: silentLogger, abortSignal: signal, store,
    removal: setup.removal ?? 'disable',
    listGroups: setup.listGroups ?? false,
  };
  const result = await computePlan(deps, PLAN);
  return { counts: result, entries: rec.appended.flatMap(([, e]) => e), rec };
}

/** Leftovers come in hash-scan order, which Redis does not fix. */
const byUser = (entries: PlanEntry[]) => [...entries].sort((x, y) => (x.appUserId! < y.appUserId! ? -1 : 1));

const scratchKeys = async () => (await redis.keys(`${prefix}:plan:*`)).sort();

describe('pairing an unlinked remote user', () => {
  it('links it to the application user with the same username, without regard to case', async () => {
    const { counts: c, entries, rec } = await plan({
      pages: [[app('a1', { username: 'alice', email: 'alice@example.com' })]],
      remotes: [remote('r-1', { username: 'ALICE', email: 'alice@example.com' })],
    });
    expect(entries).toEqual([{ action: 'link', appUserId: 'a1', remoteId: 'r-1', remoteName: 'ALICE', username: 'alice' }]);
    expect(c).toEqual(counts({ link: 1 }));
    // One batch of remote entries, then the application users nobody claimed (none).
    expect(rec.appended).toEqual([[PLAN, [entries[0]]], [PLAN, []]]);
  });

  it('links by e-mail when the username matches nobody, with the differences a push would fix', async () => {
    const { counts: c, entries } = await plan({
      pages: [[app('a1', { username: 'alice', email: 'Alice@Example.com', firstName: 'Alice' })]],
      remotes: [remote('r-1', { username: 'asmith', email: 'alice@example.com', firstName: 'Ally' })],
    });
    expect(entries).toEqual([{
      action: 'link', appUserId: 'a1', remoteId: 'r-1', remoteName: 'asmith', username: 'alice',
      diff: [
        { attribute: 'username', app: 'alice', target: 'asmith' },
        { attribute: 'email', app: 'Alice@Example.com', target: 'alice@example.com' },
        { attribute: 'firstName', app: 'Alice', target: 'Ally' },
      ],
    }]);
    expect(c).toEqual(counts({ link: 1 }));
  });

  it('carries what the application should take when the target owns differing fields', async () => {
    const r = remote('r-1', { username: 'alice', email: 'alice@example.com', firstName: 'Ally', lastName: 'Smith' });
    const { entries } = await plan({
      pages: [[app('a1', { username: 'alice', email: 'alice@example.com', firstName: 'Alice', lastName: 'Smith' })]],
      remotes: [r],
      authority: { firstName: 'target', lastName: 'target' },
    });
    expect(entries).toEqual([{
      action: 'link', appUserId: 'a1', remoteId: 'r-1', remoteName: 'alice', username: 'alice',
      appDiff: [{ attribute: 'firstName', app: 'Alice', target: 'Ally' }],
      fields: ['firstName'],
      remote: r,
    }]);
  });

  it('pairs by what the push would write, not by the raw application values', async () => {
    // The connector names users on the target differently (an Entra UPN, a mapped address).
    const { entries } = await plan({
      target: 'entra',
      pages: [[app('b1', { username: 'bob', email: 'bob@example.com' }), app('c1', { username: 'carol', email: 'carol@example.com' })]],
      remotes: [
        remote('r-b', { target: 'entra', username: 'BOB@contoso.com', email: 'nobody@example.com' }),
        remote('r-c', { target: 'entra', username: 'someone@contoso.com', email: 'carol@mail.contoso.com' }),
      ],
      expectedRemote: (s, target) => ({ target, username: `${s.username}@contoso.com`, email: s.email.replace('@example.com', '@mail.contoso.com'), active: s.active }),
    });
    expect(entries.map((e) => [e.action, e.appUserId, e.remoteId])).toEqual([['link', 'b1', 'r-b'], ['link', 'c1', 'r-c']]);
  });

  it('pairs each remote user of a batch with its own match', async () => {
    const { entries, counts: c } = await plan({
      pages: [[app('a1', { username: 'alice', email: 'alice@example.com' }), app('b1', { username: 'bob', email: 'bob@example.com' })]],
      remotes: [
        remote('r-0', { username: 'zed', email: 'zed@example.com' }),
        remote('r-b', { username: 'robert', email: 'bob@example.com' }),
        remote('r-a', { username: 'alice', email: 'other@example.com' }),
      ],
    });
    expect(entries.map((e) => [e.action, e.appUserId, e.remoteId])).toEqual([['link', 'b1', 'r-b'], ['link', 'a1', 'r-a']]);
    expect(c).toEqual(counts({ link: 2, unchanged: 1 }));
  });

  it('does not pair by username when only e-mail is a correlation attribute', async () => {
    const { entries, counts: c } = await plan({
      matchAttributes: ['email'],
      pages: [[app('a1', { username: 'alice', email: 'alice@example.com' })]],
      remotes: [remote('r-1', { username: 'alice', email: 'other@example.com' })],
    });
    expect(entries).toEqual([{ action: 'create', appUserId: 'a1', username: 'alice' }]);
    expect(c).toEqual(counts({ unchanged: 1, create: 1 }));
  });

  it('does not pair a remote user without e-mail with an application user whose e-mail is empty', async () => {
    // The empty address is invalid application data; it is not a value to pair by.
    const { entries, counts: c } = await plan({
      pages: [[app('x1', { username: 'xavier', email: '' })]],
      remotes: [remote('r-1', { username: 'nobody', email: undefined })],
    });
    expect(entries).toEqual([{ action: 'create', appUserId: 'x1', username: 'xavier' }]);
    expect(c).toEqual(counts({ unchanged: 1, create: 1 }));
  });

  it('pairs a user the application lists twice as one user, not as an ambiguity', async () => {
    const alice = app('a1', { username: 'alice', email: 'alice@example.com' });
    const { entries, counts: c } = await plan({ pages: [[alice], [alice]], remotes: [remote('r-1', { username: 'alice', email: 'alice@example.com' })] });
    expect(entries).toEqual([{ action: 'link', appUserId: 'a1', remoteId: 'r-1', remoteName: 'alice', username: 'alice' }]);
    expect(c).toEqual(counts({ link: 1 }));
  });
});

describe('remote users that match nobody', () => {
  it('are counted as unchanged when unmatched users are not imported', async () => {
    const { entries, counts: c, rec } = await plan({ remotes: [remote('r-1'), remote('r-2')] });
    expect(entries).toEqual([]);
    expect(c).toEqual(counts({ unchanged: 2 }));
    expect(rec.appUsername).toEqual([]);
  });

  it('are imported under the username the connector derives', async () => {
    const r = remote('r-1', { username: 'carol@contoso.com' });
    const { entries, counts: c, rec } = await plan({ importUnmatched: true, remotes: [r], appUsername: () => 'carol' });
    expect(entries).toEqual([{ action: 'import', remoteId: 'r-1', remoteName: 'carol@contoso.com', remote: r, appUsername: 'carol' }]);
    expect(c).toEqual(counts({ import: 1 }));
    expect(rec.appUsername).toEqual([[r, { abortSignal: signal }]]);
  });
});

describe('ambiguous matches', () => {
  it('are a conflict when username and e-mail point at different application users', async () => {
    const { entries, counts: c } = await plan({
      pages: [[app('a1', { username: 'alice', email: 'alice@example.com' }), app('b1', { username: 'bob', email: 'bob@example.com' })]],
      remotes: [remote('r-1', { username: 'alice', email: 'bob@example.com' })],
    });
    expect(entries[0]).toEqual({ action: 'conflict', remoteId: 'r-1', remoteName: 'alice', reason: 'matches several application users by username / email' });
    expect(byUser(entries.slice(1))).toEqual([
      { action: 'create', appUserId: 'a1', username: 'alice' },
      { action: 'create', appUserId: 'b1', username: 'bob' },
    ]);
    expect(c).toEqual(counts({ conflict: 1, create: 2 }));
  });

  it('are a conflict when several application users share the matching value', async () => {
    const { entries, counts: c } = await plan({
      matchAttributes: ['email'],
      pages: [[app('d1', { email: 'dan@example.com' }), app('e1', { email: 'same@example.com' }), app('f1', { email: 'SAME@example.com' })]],
      remotes: [remote('r-1', { username: 'twin', email: 'Same@Example.com' }), remote('r-d', { username: 'dan', email: 'dan@example.com' })],
    });
    expect(entries.slice(0, 2)).toEqual([
      { action: 'conflict', remoteId: 'r-1', remoteName: 'twin', reason: 'matches several application users by email' },
      { action: 'link', appUserId: 'd1', remoteId: 'r-d', remoteName: 'dan', username: 'd1', diff: [{ attribute: 'username', app: 'd1', target: 'dan' }] },
    ]);
    expect(c).toEqual(counts({ conflict: 1, link: 1, create: 2 }));
  });

  it('stays ambiguous when the shared value comes on a later page', async () => {
    const { entries } = await plan({
      matchAttributes: ['email'],
      pages: [[app('e1', { email: 'same@example.com' })], [app('f1', { email: 'same@example.com' })], [app('g1', { email: 'same@example.com' })]],
      remotes: [remote('r-1', { username: 'twin', email: 'same@example.com' })],
    });
    expect(entries[0]).toEqual({ action: 'conflict', remoteId: 'r-1', remoteName: 'twin', reason: 'matches several application users by email' });
  });

  it('are a conflict when the username is unique but the e-mail is shared', async () => {
    const { entries } = await plan({
      pages: [[app('e1', { username: 'erin', email: 'same@example.com' }), app('f1', { username: 'frank', email: 'same@example.com' })]],
      remotes: [remote('r-1', { username: 'erin', email: 'same@example.com' })],
    });
    expect(entries[0]).toEqual({ action: 'conflict', remoteId: 'r-1', remoteName: 'erin', reason: 'matches several application users by username / email' });
  });
});

describe('claims on one application user', () => {
  it('refuse a match whose application user is linked to another remote user', async () => {
    await redis.hset(`${prefix}:link:crowd:a1`, 'remoteId', 'r-old');
    const { entries, counts: c } = await plan({
      pages: [[app('a1', { username: 'alice' })]],
      remotes: [remote('r-new', { username: 'alice' })],
    });
    expect(entries).toEqual([
      { action: 'conflict', appUserId: 'a1', remoteId: 'r-new', remoteName: 'alice', reason: 'the matching application user a1 is already linked to another crowd user' },
      // r-new did not claim a1, and a1's own remote user is gone: the application recreates it.
      { action: 'create', appUserId: 'a1', username: 'alice', reason: 'the linked crowd user no longer exists; the application is the authority, so it is created again' },
    ]);
    expect(c).toEqual(counts({ conflict: 1, create: 1 }));
  });

  it('accept a match whose application user is already linked to that very remote user', async () => {
    await redis.hset(`${prefix}:link:crowd:a1`, 'remoteId', 'r-1');
    const { entries } = await plan({ pages: [[app('a1', { username: 'alice' })]], remotes: [remote('r-1', { username: 'alice', email: 'a1@example.com' })] });
    expect(entries).toEqual([{ action: 'link', appUserId: 'a1', remoteId: 'r-1', remoteName: 'alice', username: 'alice' }]);
  });

  it('let the linked remote user keep its application user when a later one matches it too', async () => {
    await link('a1', 'r-1');
    const { entries, counts: c } = await plan({
      pages: [[app('a1', { username: 'alice', email: 'alice@example.com' })]],
      remotes: [remote('r-1', { username: 'alice', email: 'alice@example.com' }), remote('r-2', { username: 'alice2', email: 'alice@example.com' })],
    });
    expect(entries).toEqual([
      { action: 'conflict', appUserId: 'a1', remoteId: 'r-2', remoteName: 'alice2', reason: 'the matching application user a1 is already linked to another crowd user' },
    ]);
    expect(c).toEqual(counts({ unchanged: 1, conflict: 1 }));
  });

  it('give the application user to the linked remote user even when a refused match comes first', async () => {
    await link('a1', 'r-1');
    const { entries, counts: c } = await plan({
      pages: [[app('a1', { username: 'alice', email: 'alice@example.com' })]],
      remotes: [remote('r-2', { username: 'alice', email: 'x@example.com' }), remote('r-1', { username: 'old', email: 'alice@example.com' })],
    });
    expect(entries).toEqual([
      { action: 'conflict', appUserId: 'a1', remoteId: 'r-2', remoteName: 'alice', reason: 'the matching application user a1 is already linked to another crowd user' },
      { action: 'update', appUserId: 'a1', remoteId: 'r-1', remoteName: 'old', username: 'alice', diff: [{ attribute: 'username', app: 'alice', target: 'old' }] },
    ]);
    expect(c).toEqual(counts({ conflict: 1, update: 1 }));
  });

  it('refuse a second remote user linked to the same application user', async () => {
    // Two remote ids pointing at one application user: a broken reverse index.
    await link('a1', 'r-1');
    await redis.hset(`${prefix}:link-remote:crowd`, 'r-2', 'a1');
    const { entries, counts: c } = await plan({
      pages: [[app('a1', { username: 'alice', email: 'alice@example.com' })]],
      remotes: [remote('r-1', { username: 'alice', email: 'alice@example.com' }), remote('r-2', { username: 'alice', email: 'alice@example.com' })],
    });
    expect(entries).toEqual([
      { action: 'conflict', appUserId: 'a1', remoteId: 'r-2', remoteName: 'alice', reason: 'another crowd user is already paired with this application user' },
    ]);
    expect(c).toEqual(counts({ unchanged: 1, conflict: 1 }));
  });

  it('refuse a second unlinked remote user matching the same application user', async () => {
    const { entries, counts: c } = await plan({
      pages: [[app('a1', { username: 'alice', email: 'alice@example.com' })]],
      remotes: [remote('r-1', { username: 'alice', email: 'alice@example.com' }), remote('r-2', { username: 'ALICE', email: 'alice@example.com' })],
    });
    expect(entries).toEqual([
      { action: 'link', appUserId: 'a1', remoteId: 'r-1', remoteName: 'alice', username: 'alice' },
      { action: 'conflict', appUserId: 'a1', remoteId: 'r-2', remoteName: 'ALICE', reason: 'another crowd user is already paired with this application user' },
    ]);
    expect(c).toEqual(counts({ link: 1, conflict: 1 }));
  });
});

describe('linked remote users', () => {
  it('follow their link even when their names match another application user', async () => {
    await link('a1', 'r-1');
    const { entries, counts: c } = await plan({
      pages: [[app('a1', { username: 'alice', email: 'alice@example.com' }), app('b1', { username: 'bob', email: 'bob@example.com' })]],
      remotes: [remote('r-1', { username: 'bob', email: 'bob@example.com' })],
    });
    expect(entries).toEqual([
      { action: 'update', appUserId: 'a1', remoteId: 'r-1', remoteName: 'bob', username: 'alice', diff: [{ attribute: 'username', app: 'alice', target: 'bob' }, { attribute: 'email', app: 'alice@example.com', target: 'bob@example.com' }] },
      { action: 'create', appUserId: 'b1', username: 'bob' },
    ]);
    expect(c).toEqual(counts({ update: 1, create: 1 }));
  });

  it('are unchanged when both sides agree', async () => {
    await link('a1', 'r-1');
    const { entries, counts: c, rec } = await plan({
      pages: [[app('a1', { username: 'alice', email: 'alice@example.com', firstName: 'Alice' })]],
      remotes: [remote('r-1', { username: 'alice', email: 'alice@example.com', firstName: 'Alice' })],
    });
    expect(entries).toEqual([]);
    expect(c).toEqual(counts({ unchanged: 1 }));
    expect(rec.appended).toEqual([[PLAN, []], [PLAN, []]]);
    // The application owns the username: nothing to ask the connector about it.
    expect(rec.appUsername).toEqual([]);
  });

  it('are updated where they differ from what the application owns', async () => {
    await link('a1', 'r-1');
    const { entries, counts: c } = await plan({
      pages: [[app('a1', { username: 'alice', email: 'alice@example.com', lastName: 'Smith' })]],
      remotes: [remote('r-1', { username: 'alice', email: 'alice@example.com', lastName: 'Smyth' })],
    });
    expect(entries).toEqual([{ action: 'update', appUserId: 'a1', remoteId: 'r-1', remoteName: 'alice', username: 'alice', diff: [{ attribute: 'lastName', app: 'Smith', target: 'Smyth' }] }]);
    expect(c).toEqual(counts({ update: 1 }));
  });

  it('update the application where they differ in what the target owns', async () => {
    await link('a1', 'r-1');
    const r = remote('r-1', { username: 'alice', email: 'alice@example.com', roles: ['admin'] });
    const { entries, counts: c } = await plan({ pages: [[app('a1', { username: 'alice', email: 'alice@example.com', roles: ['user'] })]], remotes: [r] });
    expect(entries).toEqual([{
      action: 'appUpdate', appUserId: 'a1', remoteId: 'r-1', remoteName: 'alice', username: 'alice',
      appDiff: [{ attribute: 'roles', app: ['user'], target: ['admin'] }], fields: ['roles'], remote: r,
    }]);
    expect(c).toEqual(counts({ appUpdate: 1 }));
  });

  it('update both sides when each differs in what it owns', async () => {
    await link('a1', 'r-1');
    const r = remote('r-1', { username: 'alice', email: 'old@example.com', roles: ['admin'] });
    const { entries, counts: c } = await plan({ pages: [[app('a1', { username: 'alice', email: 'alice@example.com' })]], remotes: [r] });
    expect(entries).toEqual([
      { action: 'update', appUserId: 'a1', remoteId: 'r-1', remoteName: 'alice', username: 'alice', diff: [{ attribute: 'email', app: 'alice@example.com', target: 'old@example.com' }] },
      { action: 'appUpdate', appUserId: 'a1', remoteId: 'r-1', remoteName: 'alice', username: 'alice', appDiff: [{ attribute: 'roles', app: undefined, target: ['admin'] }], fields: ['roles'], remote: r },
    ]);
    expect(c).toEqual(counts({ update: 1, appUpdate: 1 }));
  });

  it('disable the application user when the target owns the lifecycle and only deactivated the user', async () => {
    await link('a1', 'r-1');
    const r = remote('r-1', { username: 'alice', email: 'alice@example.com', active: false });
    const { entries, counts: c } = await plan({ authority: { active: 'target' }, pages: [[app('a1', { username: 'alice', email: 'alice@example.com' })]], remotes: [r] });
    expect(entries).toEqual([{
      action: 'appDisable', appUserId: 'a1', remoteId: 'r-1', remoteName: 'alice', username: 'alice',
      appDiff: [{ attribute: 'active', app: true, target: false }], fields: ['active'], remote: r,
    }]);
    expect(c).toEqual(counts({ appDisable: 1 }));
  });

  it('reactivate the application user as an update, not a disable', async () => {
    await link('a1', 'r-1');
    const r = remote('r-1', { username: 'alice', email: 'alice@example.com', active: true });
    const { entries } = await plan({ authority: { active: 'target' }, pages: [[app('a1', { username: 'alice', email: 'alice@example.com', active: false })]], remotes: [r] });
    expect(entries).toEqual([{
      action: 'appUpdate', appUserId: 'a1', remoteId: 'r-1', remoteName: 'alice', username: 'alice',
      appDiff: [{ attribute: 'active', app: false, target: true }], fields: ['active'], remote: r,
    }]);
  });

  it('update rather than disable when more than the state changed on a deactivated user', async () => {
    await link('a1', 'r-1');
    const r = remote('r-1', { username: 'alice', email: 'alice@example.com', active: false, roles: ['admin'] });
    const { entries } = await plan({ authority: { active: 'target' }, pages: [[app('a1', { username: 'alice', email: 'alice@example.com' })]], remotes: [r] });
    expect(entries).toEqual([{
      action: 'appUpdate', appUserId: 'a1', remoteId: 'r-1', remoteName: 'alice', username: 'alice',
      appDiff: [{ attribute: 'active', app: true, target: false }, { attribute: 'roles', app: undefined, target: ['admin'] }], fields: ['active', 'roles'], remote: r,
    }]);
  });

  it('update rather than disable when another field changed on a user inactive on both sides', async () => {
    await link('a1', 'r-1');
    const r = remote('r-1', { username: 'alice', email: 'alice@example.com', active: false, roles: ['admin'] });
    const { entries } = await plan({ authority: { active: 'target' }, pages: [[app('a1', { username: 'alice', email: 'alice@example.com', active: false })]], remotes: [r] });
    expect(entries.map((e) => [e.action, e.fields])).toEqual([['appUpdate', ['roles']]]);
  });

  it('take the username the connector derives when the target owns usernames', async () => {
    await link('a1', 'r-1', 'entra');
    const r = remote('r-1', { target: 'entra', username: 'alice.new@contoso.com', email: 'alice@example.com', firstName: 'Ally' });
    const { entries, rec } = await plan({
      target: 'entra',
      authority: { username: 'target' },
      pages: [[app('a1', { username: 'alice', email: 'alice@example.com', firstName: 'Alice' })]],
      remotes: [r],
      appUsername: (x) => x.username.split('@')[0]!,
      expectedRemote: (s, target) => ({ ...plainMapping(s, target), username: `${s.username}@contoso.com` }),
    });
    expect(entries).toEqual([
      { action: 'update', appUserId: 'a1', remoteId: 'r-1', remoteName: 'alice.new@contoso.com', username: 'alice', diff: [{ attribute: 'firstName', app: 'Alice', target: 'Ally' }] },
      {
        action: 'appUpdate', appUserId: 'a1', remoteId: 'r-1', remoteName: 'alice.new@contoso.com', username: 'alice',
        appDiff: [{ attribute: 'username', app: 'alice', target: 'alice.new' }], fields: ['username'], remote: r, appUsername: 'alice.new',
      },
    ]);
    expect(rec.appUsername).toEqual([[r]]);
    // The push keeps the target's username: only the fields the application owns are compared.
    expect(rec.expectedRemote[1]).toEqual([{ id: 'a1', username: 'alice.new', email: 'alice@example.com', firstName: 'Alice', active: true, version: 7 }, { abortSignal: signal }]);
  });

  it('are a conflict when the application holds invalid data for them', async () => {
    await link('a1', 'r-1');
    const { entries, counts: c, rec } = await plan({ pages: [[app('a1', { username: 'alice', email: 'not-an-address' })]], remotes: [remote('r-1', { username: 'alice' })] });
    expect(entries).toEqual([{ action: 'conflict', appUserId: 'a1', remoteId: 'r-1', remoteName: 'alice', reason: 'invalid application data: email: must be an e-mail address' }]);
    expect(c).toEqual(counts({ conflict: 1 }));
    // Neither indexed nor compared through the connector's mapping.
    expect(rec.expectedRemote).toEqual([]);
  });
});

describe('remote users linked to an application user that is gone', () => {
  it.each([
    ['delete', true, { action: 'delete', appUserId: 'gone', remoteId: 'r-1', remoteName: 'dave' }],
    ['delete', false, { action: 'delete', appUserId: 'gone', remoteId: 'r-1', remoteName: 'dave' }],
    ['disable', true, { action: 'disable', appUserId: 'gone', remoteId: 'r-1', remoteName: 'dave' }],
  ] as const)('are removed by the policy (%s, active: %s)', async (removal, active, entry) => {
    await link('gone', 'r-1');
    const { entries, counts: c } = await plan({ removal, remotes: [remote('r-1', { username: 'dave', active })] });
    expect(entries).toEqual([entry]);
    expect(c).toEqual(counts({ [removal]: 1 }));
  });

  it('are left alone when the policy disables and they are disabled already', async () => {
    await link('gone', 'r-1');
    const { entries, counts: c } = await plan({ removal: 'disable', remotes: [remote('r-1', { username: 'dave', active: false })] });
    expect(entries).toEqual([]);
    expect(c).toEqual(counts({ unchanged: 1 }));
  });
});

describe('application users no remote user claimed', () => {
  it('are created when active, counted when inactive', async () => {
    const { entries, counts: c } = await plan({ pages: [[app('a1'), app('b1', { active: false })]] });
    expect(entries).toEqual([{ action: 'create', appUserId: 'a1', username: 'a1' }]);
    expect(c).toEqual(counts({ create: 1, unchanged: 1 }));
  });

  it('are disabled in the application when their linked remote user is gone and the target owns the lifecycle', async () => {
    await link('a1', 'r-gone');
    await link('b1', 'r-gone-too');
    const { entries, counts: c } = await plan({ authority: { active: 'target' }, pages: [[app('a1'), app('b1', { active: false }), app('c1')]] });
    expect(byUser(entries)).toEqual([
      { action: 'appDisable', appUserId: 'a1', username: 'a1', remoteId: 'r-gone', reason: 'the linked crowd user no longer exists' },
      { action: 'create', appUserId: 'c1', username: 'c1' },
    ]);
    expect(c).toEqual(counts({ appDisable: 1, create: 1, unchanged: 1 }));
  });

  it('are all visited when there are more than one scan batch of them', async () => {
    const users = Array.from({ length: 1200 }, (_, i) => app(`u${String(i).padStart(4, '0')}`));
    const { entries, counts: c, rec } = await plan({ pages: [users.slice(0, 1000), users.slice(1000)] });
    expect(c).toEqual(counts({ create: 1200 }));
    expect(new Set(entries.map((e) => e.appUserId)).size).toBe(1200);
    expect(rec.appended.length).toBeGreaterThan(1);
  });

  it('are not looked up when the application has none', async () => {
    const { rec, counts: c } = await plan({ remotes: [remote('r-1')] });
    expect(rec.appended).toEqual([[PLAN, []]]);
    expect(c).toEqual(counts({ unchanged: 1 }));
  });
});

describe('listing and progress', () => {
  it('lists both sides with the run’s options and reports progress per page and per batch', async () => {
    const { rec } = await plan({
      listGroups: true,
      pages: [[app('a1'), app('b1')], [app('c1')]],
      remotes: [remote('r-1')],
    });
    expect(rec.appListing).toEqual([{ pageSize: 1000, abortSignal: signal }]);
    expect(rec.remoteListing).toEqual([{ groups: true, abortSignal: signal }]);
    expect(rec.expectedRemote).toEqual(['a1', 'b1', 'c1'].map((id) => [{ id, username: id, email: `${id}@example.com`, active: true, version: 7 }, { abortSignal: signal }]));
    expect(rec.progress).toEqual([
      ['phase', 'listing', undefined, 'crowd'], ['add', 2], ['add', 1],
      ['phase', 'planning', undefined, 'crowd'], ['add', 1],
    ]);
  });

  it('does not ask for groups unless told to', async () => {
    const { rec } = await plan({ listGroups: false });
    expect(rec.remoteListing).toEqual([{ groups: false, abortSignal: signal }]);
  });

  it('plans remote users in batches of 500', async () => {
    const remotes = Array.from({ length: 501 }, (_, i) => remote(`r-${i}`));
    const { rec, counts: c } = await plan({ importUnmatched: true, remotes });
    expect(rec.appended.map(([, e]) => e.length)).toEqual([500, 1]);
    expect(rec.progress.slice(1)).toEqual([['phase', 'planning', undefined, 'crowd'], ['add', 500], ['add', 1]]);
    expect(c).toEqual(counts({ import: 501 }));
  });

  it('does not store an empty last batch', async () => {
    const remotes = Array.from({ length: 500 }, (_, i) => remote(`r-${i}`));
    const { rec, counts: c } = await plan({ remotes });
    expect(rec.appended).toEqual([[PLAN, []]]);
    expect(rec.progress.slice(1)).toEqual([['phase', 'planning', undefined, 'crowd'], ['add', 500], ['add', 0]]);
    expect(c).toEqual(counts({ unchanged: 500 }));
  });
});

describe('scratch data', () => {
  it('indexes the application users under the plan, and removes the index afterwards', async () => {
    const alice = app('a1', { username: 'Alice', email: 'Alice@Example.com' });
    const bob = app('b1', { username: 'bob', email: 'bob@example.com' });
    let during: Record<string, unknown> = {};
    let seen: string[] = [];
    const { counts: c } = await plan({
      pages: [[alice, bob]],
      remotes: [remote('r-1', { username: 'alice' })],
      onRemoteListing: async () => {
        const base = `${prefix}:plan:${PLAN}`;
        during = {
          keys: await scratchKeys(),
          app: await redis.hgetall(`${base}:scratch-app`),
          username: await redis.hgetall(`${base}:scratch-ix-username`),
          email: await redis.hgetall(`${base}:scratch-ix-email`),
        };
      },
      onAppend: async () => {
        seen = (await redis.smembers(`${prefix}:plan:${PLAN}:scratch-seen`)).sort();
      },
    });
    expect(c).toEqual(counts({ link: 1, create: 1 }));
    expect(during).toEqual({
      keys: [`${prefix}:plan:${PLAN}:scratch-app`, `${prefix}:plan:${PLAN}:scratch-ix-email`, `${prefix}:plan:${PLAN}:scratch-ix-username`],
      app: { a1: JSON.stringify(alice), b1: JSON.stringify(bob) },
      username: { alice: 'a1', bob: 'b1' },
      email: { 'alice@example.com': 'a1', 'bob@example.com': 'b1' },
    });
    expect(seen).toEqual(['a1']);
    expect(await scratchKeys()).toEqual([]);
  });

  it('is removed when the remote listing fails, and the failure is passed on', async () => {
    const failure = new Error('Crowd listing cut short');
    await expect(plan({ pages: [[app('a1')]], remotes: [remote('r-1')], listError: failure })).rejects.toBe(failure);
    expect(await scratchKeys()).toEqual([]);
  });

  it('passes on a Redis error instead of planning without the links', async () => {
    await redis.set(`${prefix}:link:crowd:a1`, 'not a hash');
    await expect(plan({ pages: [[app('a1', { username: 'alice' })]], remotes: [remote('r-1', { username: 'alice' })] })).rejects.toThrow(/^WRONGTYPE/);
    expect(await scratchKeys()).toEqual([]);
  });
});
