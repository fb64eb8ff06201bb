import type { LinkStore } from '../../shared/links.js';
import type { Logger } from '../../shared/logger.js';
import type { Target, UserSnapshot } from '../../shared/jobs.js';
import type { UserDirectory } from '../app/directory.js';
import type { PlanEntry, PlanMeta, PlanStore } from './plan-store.js';
import type { ProgressReporter } from './progress.js';
import type { SyncQueues } from './queues.js';
import { toSnapshot } from './snapshot.js';
import type { Tally } from './tracker.js';

export interface ApplyDeps {
  store: PlanStore;
  queues: SyncQueues;
  directory: UserDirectory;
  links: LinkStore;
  progress: ProgressReporter;
  logger: Logger;
  abortSignal?: AbortSignal;
  /** Entries handed out per chunk. @defaultValue 1000 (addBulk's sweet spot) */
  chunkSize?: number;
}

/**
 * Applies a plan through the ordinary jobs, a chunk at a time, waiting for each chunk's jobs
 * so progress counts finished users. The cursor moves on only after a chunk's jobs are all
 * enqueued, so re-running an interrupted apply hands out at most one chunk again, and that is
 * harmless: pushes coalesce per user and every remote write is idempotent, creates included,
 * and an import adopts the application user an earlier attempt created.
 */
export async function applyPlan(deps: ApplyDeps, meta: PlanMeta): Promise<PlanMeta> {
  const { store } = deps;
  const total = await store.entryCount(meta.id);
  let cursor = await store.cursor(meta.id);
  // A resumed apply goes on counting from where the interrupted one stopped.
  const tally: Tally = { succeeded: meta.apply?.succeeded ?? 0, skipped: meta.apply?.skipped ?? 0, failed: meta.apply?.failed ?? 0 };
  let current = await store.save({ ...meta, status: 'applying', apply: { total, enqueued: cursor, ...tally, startedAt: meta.apply?.startedAt ?? Date.now() } });
  await deps.progress.phase('applying', total - cursor, meta.target);
  while (cursor < total) {
    const entries = await store.entries(meta.id, cursor, deps.chunkSize ?? 1000);
    const { waits, idle } = await handOut(deps, meta.target, meta.id, entries);
    await store.setCursor(meta.id, cursor + entries.length);
    cursor += entries.length;
    // Entries that need no job (conflicts, links without a diff) are done once handed out.
    if (idle) await deps.progress.add(idle);
    const count = entryCounter(entries.length - idle, [...waits.values()].reduce((n, ids) => n + ids.length, 0), (n) => void deps.progress.add(n));
    for (const [queue, ids] of waits) {
      const { tracker } = await deps.queues.get(queue);
      const t = await tracker.wait(ids, count, { abortSignal: deps.abortSignal });
      tally.succeeded += t.succeeded;
      tally.skipped += t.skipped;
      tally.failed += t.failed;
    }
    current = await store.save({ ...current, apply: { ...current.apply!, enqueued: cursor, ...tally } });
  }
  const failed = tally.failed > 0;
  return store.save({
    ...current,
    status: failed ? 'failed' : 'applied',
    ...(failed && { reason: `${tally.failed} of the plan's jobs failed; see idsync failed list, fix the cause and run the sync again` }),
    apply: { ...current.apply!, ...tally, finishedAt: Date.now() },
  });
}

/**
 * Progress is counted in entries, but a link entry can have two jobs (its push and its
 * application update): the chunk's settled jobs are scaled to its entries with jobs, so
 * `done` ends at the chunk's size and never passes the plan's total.
 */
function entryCounter(entries: number, jobs: number, add: (n: number) => void): () => void {
  let settled = 0;
  return () => {
    const before = Math.floor((settled * entries) / jobs);
    settled += 1;
    const step = Math.floor((settled * entries) / jobs) - before;
    if (step) add(step);
  };
}

/**
 * Turns plan entries into jobs; returns the job ids to wait for, per queue, and how many
 * entries need no job.
 */
async function handOut(deps: ApplyDeps, target: Target, planId: string, entries: readonly PlanEntry[]): Promise<{ waits: Map<Target | 'app', string[]>; idle: number }> {
  const upserts: (UserSnapshot & { version: number })[] = [];
  const deletes: { id: string; username?: string }[] = [];
  const applies: Parameters<ApplyDeps['queues']['applies']>[0][number][] = [];
  let idle = 0;
  // State-based: pushes carry the app's current row, not the one seen when planning (a staged
  // plan may be hours old). Read the chunk's rows at once; the directory bounds its own concurrency.
  const pushing = entries.filter((e) => e.action === 'create' || e.action === 'update' || (e.action === 'link' && e.diff?.length));
  const rows = new Map(await Promise.all(pushing.map(async (e) => [e.appUserId!, await deps.directory.get(e.appUserId!, { abortSignal: deps.abortSignal })] as const)));
  for (const e of entries) {
    switch (e.action) {
      case 'link':
      case 'create':
      case 'update': {
        const takesFields = e.action === 'link' && !!e.fields?.length;
        if (e.action === 'link') await deps.links.update(target, e.appUserId!, { remoteId: e.remoteId!, remoteName: e.remoteName! });
        if (takesFields) applies.push({ source: target, action: 'update', appUserId: e.appUserId!, remote: e.remote!, fields: e.fields!, planId });
        if (e.action === 'link' && !e.diff?.length) {
          if (!takesFields) idle += 1;
          break;
        }
        const user = rows.get(e.appUserId!);
        const snap = user && toSnapshot(user);
        if (snap?.ok) upserts.push(snap.snapshot);
        else {
          deps.logger.warn({ appUserId: e.appUserId, reason: snap ? snap.reason : 'gone from the application' }, 'plan entry not applied');
          if (!takesFields) idle += 1;
        }
        break;
      }
      case 'disable':
      case 'delete':
        deletes.push({ id: e.appUserId!, ...(e.remoteName && { username: e.remoteName }) });
        break;
      case 'import':
        applies.push({ source: target, action: 'import', remote: e.remote!, planId, ...(e.appUsername && { appUsername: e.appUsername }) });
        break;
      case 'appUpdate':
        applies.push({ source: target, action: 'update', appUserId: e.appUserId!, remote: e.remote!, fields: e.fields ?? [], planId, ...(e.appUsername && { appUsername: e.appUsername }) });
        break;
      case 'appDisable':
        applies.push({ source: target, action: 'disable', appUserId: e.appUserId!, remote: e.remote ?? null, planId });
        break;
      case 'conflict':
        idle += 1;
        break;
    }
  }
  const waits = new Map<Target | 'app', string[]>();
  const targetIds = [
    ...(upserts.length ? await deps.queues.pushUpserts(target, upserts, 'sync') : []),
    ...(deletes.length ? await deps.queues.pushDeletes(target, deletes) : []),
  ];
  if (targetIds.length) waits.set(target, targetIds);
  if (applies.length) waits.set('app', await deps.queues.applies(applies));
  return { waits, idle };
}
