import type { Redis } from 'ioredis';
import type { RemoteUser, Target, UserSnapshot } from '../../shared/jobs.js';
import { remoteHash } from '../../shared/links.js';
import { ownedByTarget, withTargetValues } from '../runtime/authority.js';
import type { TargetSyncDeps } from './deps.js';
import { diffForApp, diffForTarget } from './compare.js';
import type { SyncQueues } from './queues.js';
import { toSnapshot } from './snapshot.js';

export type IncrementalDeps = TargetSyncDeps;

export interface IncrementalResult {
  target: Target;
  changes: number;
  /** Seen again unchanged since idsync last applied them: idsync's own writes, mostly. */
  echoes: number;
  appUpdates: number;
  /** App-authoritative attributes edited on the target, put back. */
  reverted: number;
  appDisables: number;
  /** Not linked yet: pairing them needs both complete listings, so the next full sync does it. */
  unlinked: number;
}

/**
 * One incremental pull (Graph delta round, Crowd changed-since) through the same pairing,
 * authority and echo rules as a full sync. Only linked users are acted on, and removals only
 * through an explicit deletion when the target owns the lifecycle: a change feed is no
 * enumeration. The Crowd bookmark moves on only after the round completed.
 */
/** Where the time of the last complete round is kept (targets without server-side tokens: Crowd). */
export const bookmarkKey = (prefix: string, target: Target) => `${prefix}:sync:since:${target}`;

/** Moves the bookmark to `at`, never back: a completed full sync has seen everything before it started. */
export async function advanceBookmark(redis: Redis, prefix: string, target: Target, at: number): Promise<void> {
  await redis.eval(`local c = tonumber(redis.call('GET', KEYS[1]) or '0') if tonumber(ARGV[1]) > c then redis.call('SET', KEYS[1], ARGV[1]) end return 1`, 1, bookmarkKey(prefix, target), String(at));
}

export async function pullChanges(d: IncrementalDeps): Promise<IncrementalResult> {
  const key = bookmarkKey(d.prefix, d.target);
  const saved = await d.redis.get(key);
  const startedAt = Date.now();
  const r: IncrementalResult = { target: d.target, changes: 0, echoes: 0, appUpdates: 0, reverted: 0, appDisables: 0, unlinked: 0 };
  const authority = d.sync.authority[d.target];
  const applies: Parameters<SyncQueues['applies']>[0][number][] = [];
  const reverts: (UserSnapshot & { version: number })[] = [];
  await d.progress.phase('planning', undefined, d.target);
  for await (const change of d.connector.listChanges({ since: saved ? new Date(Number(saved)) : undefined, abortSignal: d.abortSignal })) {
    if (change.type === 'resync') continue;
    r.changes++;
    await d.progress.add(1);
    if (change.type === 'removed') {
      const appUserId = await d.links.findByRemoteId(d.target, change.remoteId);
      if (appUserId && change.reason === 'deleted' && authority.active === 'target') {
        applies.push({ source: d.target, action: 'disable', appUserId, remote: null });
        r.appDisables++;
      }
      continue;
    }
    await handleUpsert(d, change.user, r, applies, reverts);
  }
  const ids = [
    ...(applies.length ? [['app', await d.queues.applies(applies)] as const] : []),
    ...(reverts.length ? [[d.target, await d.queues.pushUpserts(d.target, reverts, 'sync')] as const] : []),
  ];
  for (const [queue, jobIds] of ids) await (await d.queues.get(queue)).tracker.wait(jobIds, () => undefined, { abortSignal: d.abortSignal });
  await advanceBookmark(d.redis, d.prefix, d.target, startedAt);
  return r;
}

async function handleUpsert(d: IncrementalDeps, remote: RemoteUser, r: IncrementalResult, applies: Parameters<SyncQueues['applies']>[0][number][], reverts: (UserSnapshot & { version: number })[]): Promise<void> {
  const appUserId = await d.links.findByRemoteId(d.target, remote.remoteId);
  if (!appUserId) {
    r.unlinked++;
    return;
  }
  const link = await d.links.get(d.target, appUserId);
  if (link?.readHash === remoteHash(remote)) {
    r.echoes++;
    return;
  }
  const app = await d.directory.get(appUserId, { abortSignal: d.abortSignal });
  if (!app) return;
  const authority = d.sync.authority[d.target];
  const appUsername = authority.username === 'target' ? await d.connector.appUsername(remote, { abortSignal: d.abortSignal }) : undefined;
  const theirs = diffForApp(app, remote, authority, appUsername);
  if (theirs.fields.length) {
    applies.push({ source: d.target, action: 'update', appUserId, remote, fields: theirs.fields, ...(appUsername && { appUsername }) });
    r.appUpdates++;
  } else {
    // Nothing for the app: remember what was read, so the next round sees an echo.
    await d.links.update(d.target, appUserId, { readHash: remoteHash(remote) });
  }
  const snap = toSnapshot(app);
  const pushed = snap.ok ? withTargetValues(snap.snapshot, remote, ownedByTarget(authority), appUsername) : undefined;
  if (snap.ok && pushed && diffForTarget(await d.connector.expectedRemote(pushed, { abortSignal: d.abortSignal }), remote, authority).length) {
    reverts.push(snap.snapshot);
    r.reverted++;
  }
}
