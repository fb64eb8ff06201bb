import type { Redis } from 'ioredis';
import type { RemoteUser } from '../../shared/jobs.js';
import type { AppUser } from '../app/directory.js';
import { ownedByTarget, withTargetValues } from '../runtime/authority.js';
import type { TargetSyncDeps } from './deps.js';
import { diffForApp, diffForTarget } from './compare.js';
import { emptyCounts, type PlanCounts, type PlanEntry, type PlanStore } from './plan-store.js';
import { toSnapshot } from './snapshot.js';

export interface PlannerDeps extends Omit<TargetSyncDeps, 'links' | 'queues'> {
  store: PlanStore;
  /** What a removal does on this target: the connector's delete policy. */
  removal: 'disable' | 'delete';
  /** Read remote groups while listing (costs requests per user); needed for Crowd roles. */
  listGroups: boolean;
}

const BATCH = 500;
const DUP = '\u0000dup';

/**
 * Computes a full-sync plan for one target, streaming both sides (design decisions 7–9).
 * Application users go to a scratch index in Redis, not memory; remote users are paired with
 * them page by page (link → stable remote id → correlation attributes, case-insensitively);
 * application users no remote user claimed are handled last. Throws when either listing
 * fails: the caller then records a failed plan with no entries, so nothing is removed.
 */
export async function computePlan(deps: PlannerDeps, planId: string): Promise<PlanCounts> {
  const scratch = {
    app: `${deps.prefix}:plan:${planId}:scratch-app`,
    seen: `${deps.prefix}:plan:${planId}:scratch-seen`,
    ix: (attr: string) => `${deps.prefix}:plan:${planId}:scratch-ix-${attr}`,
  };
  const counts = emptyCounts();
  try {
    await indexApp(deps, scratch);
    await pairRemote(deps, scratch, counts, planId);
    await leftovers(deps, scratch, counts, planId);
    return counts;
  } finally {
    await deps.redis.del(scratch.app, scratch.seen, ...deps.sync.matchAttributes.map(scratch.ix));
  }
}

type Scratch = { app: string; seen: string; ix: (attr: string) => string };

const linkKey = (d: PlannerDeps, id: string) => `${d.prefix}:link:${d.target}:${id}`;
const reverseKey = (d: PlannerDeps) => `${d.prefix}:link-remote:${d.target}`;

async function indexApp(d: PlannerDeps, s: Scratch): Promise<void> {
  await d.progress.phase('listing', undefined, d.target);
  for await (const page of d.directory.list({ pageSize: 1000, abortSignal: d.abortSignal })) {
    const p = d.redis.pipeline();
    const keys: [string, string, string][] = [];
    for (const user of page) {
      p.hset(s.app, user.id, JSON.stringify(user));
      const snap = toSnapshot(user);
      const expected = snap.ok ? await d.connector.expectedRemote(snap.snapshot, { abortSignal: d.abortSignal }) : undefined;
      for (const attr of d.sync.matchAttributes) {
        const value = attr === 'username' ? (expected?.username ?? user.username) : (expected?.email ?? user.email);
        if (!value) continue;
        const k = value.toLowerCase();
        p.hsetnx(s.ix(attr), k, user.id);
        keys.push([attr, k, user.id]);
      }
    }
    const results = (await p.exec()) ?? [];
    // HSETNX answered 0: another app user has the same value; pairing by it is ambiguous.
    const taken = results.slice(page.length).map(([, r]) => r);
    const dup = d.redis.pipeline();
    keys.forEach(([attr, k, id], i) => {
      if (taken[i] === 0) dup.eval(`if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end`, 1, s.ix(attr), k, id, DUP);
    });
    if (dup.length) await dup.exec();
    await d.progress.add(page.length);
  }
}

async function pairRemote(d: PlannerDeps, s: Scratch, counts: PlanCounts, planId: string): Promise<void> {
  await d.progress.phase('planning', undefined, d.target);
  let batch: RemoteUser[] = [];
  const flush = async () => {
    if (batch.length) await d.store.appendEntries(planId, await planRemoteBatch(d, s, counts, batch));
    await d.progress.add(batch.length);
    batch = [];
  };
  for await (const remote of d.connector.listUsers({ groups: d.listGroups, abortSignal: d.abortSignal })) {
    batch.push(remote);
    if (batch.length >= BATCH) await flush();
  }
  await flush();
}

async function planRemoteBatch(d: PlannerDeps, s: Scratch, counts: PlanCounts, batch: RemoteUser[]): Promise<PlanEntry[]> {
  const attrs = d.sync.matchAttributes;
  // Round trips per batch, not per user: links, correlation hits, then the paired app users.
  const [linked, matches] = await Promise.all([
    pipe(d.redis, batch.map((r) => ['hget', reverseKey(d), r.remoteId])),
    pipe(d.redis, batch.flatMap((r) => attrs.map((a) => ['hget', s.ix(a), (a === 'username' ? r.username : (r.email ?? '')).toLowerCase()]))),
  ]);
  const entries: PlanEntry[] = [];
  const add = (entry: PlanEntry) => {
    entries.push(entry);
    counts[entry.action]++;
  };
  const candidates: { remote: RemoteUser; appId: string; newLink: boolean }[] = [];
  for (const [i, remote] of batch.entries()) {
    const who = { remoteId: remote.remoteId, remoteName: remote.username };
    const appId = linked[i] as string | null;
    if (appId) {
      candidates.push({ remote, appId, newLink: false });
      continue;
    }
    const hits = [...new Set(attrs.map((_, j) => matches[i * attrs.length + j] as string | null).filter((v): v is string => !!v))];
    if (hits.length === 0) {
      if (d.sync.importUnmatched) add({ action: 'import', ...who, remote, appUsername: await d.connector.appUsername(remote, { abortSignal: d.abortSignal }) });
      else counts.unchanged++;
    } else if (hits.includes(DUP) || hits.length > 1) {
      add({ action: 'conflict', ...who, reason: `matches several application users by ${attrs.join(' / ')}` });
    } else candidates.push({ remote, appId: hits[0]!, newLink: true });
  }
  const [apps, links] = await Promise.all([
    pipe(d.redis, candidates.map((c) => ['hget', s.app, c.appId])),
    pipe(d.redis, candidates.map((c) => ['hget', linkKey(d, c.appId), 'remoteId'])),
  ]);
  const rows = candidates.map((c, i) => ({ ...c, raw: apps[i] as string | null, linkedTo: links[i] as string | null }));
  const takesOver = (r: (typeof rows)[number]) => r.newLink && !!r.linkedTo && r.linkedTo !== r.remote.remoteId;
  // Only pairs that survive the checks claim their app user; a second claim is a conflict.
  const claiming = rows.flatMap((r, i) => (r.raw !== null && !takesOver(r) ? [i] : []));
  const fresh = await pipe(d.redis, claiming.map((i) => ['sadd', s.seen, rows[i]!.appId]));
  const firstClaim = new Map(claiming.map((i, k) => [i, fresh[k] === 1]));
  const authority = d.sync.authority[d.target];
  for (const [i, r] of rows.entries()) {
    const { remote, appId, newLink, raw } = r;
    const who = { remoteId: remote.remoteId, remoteName: remote.username };
    if (!raw) {
      // Linked to an application user the complete app listing no longer has: it was removed.
      if (d.removal === 'disable' && !remote.active) counts.unchanged++;
      else add({ action: d.removal, appUserId: appId, ...who });
      continue;
    }
    if (takesOver(r)) {
      add({ action: 'conflict', appUserId: appId, ...who, reason: `the matching application user ${appId} is already linked to another ${d.target} user` });
      continue;
    }
    if (!firstClaim.get(i)) {
      add({ action: 'conflict', appUserId: appId, ...who, reason: `another ${d.target} user is already paired with this application user` });
      continue;
    }
    const app = JSON.parse(raw) as AppUser;
    const snap = toSnapshot(app);
    if (!snap.ok) {
      add({ action: 'conflict', appUserId: appId, ...who, reason: snap.reason });
      continue;
    }
    const appUsername = authority.username === 'target' ? await d.connector.appUsername(remote) : undefined;
    // What a push would write: the fields the target owns keep the target's values.
    const pushed = withTargetValues(snap.snapshot, remote, ownedByTarget(authority), appUsername);
    const diff = diffForTarget(await d.connector.expectedRemote(pushed, { abortSignal: d.abortSignal }), remote, authority);
    const theirs = diffForApp(app, remote, authority, appUsername);
    const base = { appUserId: appId, ...who, username: app.username };
    if (newLink) {
      add({ action: 'link', ...base, ...(diff.length && { diff }), ...(theirs.fields.length && { appDiff: theirs.diff, fields: theirs.fields, remote }) });
      continue;
    }
    if (diff.length) add({ action: 'update', ...base, diff });
    if (theirs.fields.length) {
      const disable = theirs.fields.length === 1 && theirs.fields[0] === 'active' && !remote.active;
      add({ action: disable ? 'appDisable' : 'appUpdate', ...base, appDiff: theirs.diff, fields: theirs.fields, remote, ...(appUsername && { appUsername }) });
    }
    if (!diff.length && !theirs.fields.length) counts.unchanged++;
  }
  return entries;
}

/** Application users no remote user claimed: never created remotely, or gone there. */
async function leftovers(d: PlannerDeps, s: Scratch, counts: PlanCounts, planId: string): Promise<void> {
  const authority = d.sync.authority[d.target];
  let cursor = '0';
  do {
    const [next, flat] = await d.redis.hscan(s.app, cursor, 'COUNT', BATCH);
    cursor = next;
    const users: AppUser[] = [];
    for (let i = 1; i < flat.length; i += 2) users.push(JSON.parse(flat[i]!) as AppUser);
    if (!users.length) continue;
    const seen = await d.redis.smismember(s.seen, ...users.map((u) => u.id));
    const links = await pipe(d.redis, users.map((u) => ['hget', linkKey(d, u.id), 'remoteId']));
    const entries: PlanEntry[] = [];
    users.forEach((u, i) => {
      if (seen[i]) return;
      const base = { appUserId: u.id, username: u.username };
      if (!u.active) counts.unchanged++;
      else if (links[i] && authority.active === 'target') {
        // The target owns the lifecycle and its user is gone: the app follows.
        entries.push({ action: 'appDisable', ...base, remoteId: links[i] as string, reason: `the linked ${d.target} user no longer exists` });
        counts.appDisable++;
      } else {
        entries.push({ action: 'create', ...base, ...(links[i] ? { reason: `the linked ${d.target} user no longer exists; the application is the authority, so it is created again` } : {}) });
        counts.create++;
      }
    });
    await d.store.appendEntries(planId, entries);
  } while (cursor !== '0');
}

async function pipe(redis: Redis, commands: (string | number)[][]): Promise<unknown[]> {
  if (!commands.length) return [];
  const results = (await redis.pipeline(commands as never).exec()) ?? [];
  return results.map(([err, v]) => {
    if (err) throw err;
    return v;
  });
}
