import type { Redis } from 'ioredis';
import type { Target } from '../shared/jobs.js';
import type { PlanAction, PlanEntry, PlanStatus, PlanStore } from '../workers/sync/plan-store.js';

/**
 * The entries of recent plans that mention one user. Plans have no per-user index, so the newest
 * plans are read a chunk at a time and each raw entry is matched as text before it is parsed:
 * a plan of 100,000 creates costs a transfer, not 100,000 JSON parses. Attribute *names* only:
 * a diff's values stay in the plan (`idsync sync show` prints them).
 */

export interface TracePlanEntry {
  planId: string;
  target: Target;
  planStatus: PlanStatus;
  planCreatedAt: number;
  action: Exclude<PlanAction, 'unchanged'>;
  remoteId?: string;
  remoteName?: string;
  /** Target-side attributes that differ. */
  attributes?: string[];
  /** Application-side attributes to take. */
  appAttributes?: string[];
  reason?: string;
}

const CHUNK = 1000;

export async function planEntriesOf(redis: Redis, store: PlanStore, userId: string, options: { plans: number; maxEntriesPerPlan: number }): Promise<{ entries: TracePlanEntry[]; scanned: number; cut: boolean }> {
  // Plan entries are stored with JSON.stringify, so this is how the user's id appears in them.
  const needle = `"appUserId":${JSON.stringify(userId)}`;
  const plans = await store.list({ limit: options.plans });
  const entries: TracePlanEntry[] = [];
  let cut = false;
  for (const plan of plans) {
    const count = await store.entryCount(plan.id);
    if (count > options.maxEntriesPerPlan) cut = true;
    for (let start = 0; start < Math.min(count, options.maxEntriesPerPlan); start += CHUNK) {
      const stop = Math.min(start + CHUNK, options.maxEntriesPerPlan) - 1;
      const raw = await redis.lrange(store.key(plan.id, 'entries'), start, stop);
      for (const text of raw) {
        if (!text.includes(needle)) continue;
        const e = JSON.parse(text) as PlanEntry;
        if (e.appUserId !== userId) continue;
        entries.push({
          planId: plan.id, target: plan.target, planStatus: plan.status, planCreatedAt: plan.createdAt, action: e.action,
          ...(e.remoteId && { remoteId: e.remoteId }), ...(e.remoteName && { remoteName: e.remoteName }),
          ...(e.diff?.length && { attributes: e.diff.map((d) => d.attribute) }),
          ...((e.fields?.length || e.appDiff?.length) && { appAttributes: e.fields ?? e.appDiff!.map((d) => d.attribute) }),
          ...(e.reason && { reason: e.reason }),
        });
      }
    }
  }
  return { entries: entries.sort((a, b) => a.planCreatedAt - b.planCreatedAt), scanned: plans.length, cut };
}
