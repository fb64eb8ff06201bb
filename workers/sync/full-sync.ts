import type { AuditLog } from '../../shared/audit.js';
import type { FullSyncData } from '../../shared/jobs.js';
import { redactText } from '../../shared/redact.js';
import { planEntries } from '../runtime/process-metrics.js';
import type { TargetSyncDeps } from './deps.js';
import { applyPlan } from './apply.js';
import { emptyCounts, newPlanId, type PlanMeta, type PlanStore } from './plan-store.js';
import { advanceBookmark } from './incremental.js';
import { computePlan } from './planner.js';

export interface FullSyncDeps extends TargetSyncDeps {
  audit: AuditLog;
  store: PlanStore;
  removal: 'disable' | 'delete';
  listGroups: boolean;
}

/**
 * One full sync of one target: plan (or take the stored plan), guard, then apply unless it is a
 * dry run, a plan-only run, or staged for an operator. A listing that fails leaves a failed plan
 * with no entries: nothing applied, nothing removed.
 */
export async function runFullSync(d: FullSyncDeps, data: Pick<FullSyncData, 'mode' | 'planId' | 'slot'> & { jobId?: string }): Promise<PlanMeta> {
  if (data.planId) return applyStored(d, data.planId);
  // A job that runs again after its worker died resumes the plan it was applying, instead of
  // planning anew and leaving that one half-applied.
  const jobKey = data.jobId && `${d.prefix}:plan-of-job:${d.target}:${data.jobId}`;
  const earlier = jobKey ? await d.store.get((await d.redis.get(jobKey)) ?? '') : undefined;
  if (earlier?.status === 'applying') return applyStored(d, earlier.id);
  if (earlier && earlier.status !== 'planning') return earlier;
  if (earlier) await d.store.save({ ...earlier, status: 'failed', reason: 'interrupted while planning (its worker stopped); planned again by the same job' });
  const meta: PlanMeta = {
    id: newPlanId(d.target), target: d.target, status: 'planning', dryRun: data.mode === 'dry-run', createdAt: Date.now(), updatedAt: Date.now(),
    ...(data.slot && { slot: data.slot }), counts: emptyCounts(), linked: 0, removals: 0,
    threshold: { absolute: d.sync.deleteThreshold, percent: d.sync.deleteThresholdPercent },
  };
  await d.store.create(meta);
  if (jobKey) await d.redis.set(jobKey, meta.id, 'EX', 7 * 86_400);
  let planned: PlanMeta;
  try {
    const linked = await d.redis.hlen(`${d.prefix}:link-remote:${d.target}`);
    const counts = await computePlan({ ...d }, meta.id);
    const removals = counts.disable + counts.delete + counts.appDisable;
    const staged = removals > d.sync.deleteThreshold || (removals > 0 && removals * 100 > d.sync.deleteThresholdPercent * Math.max(linked, 1));
    planned = await d.store.save({
      ...meta, counts, linked, removals, status: staged ? 'staged' : 'planned',
      ...(staged && { reason: `${removals} removals exceed the guard (${d.sync.deleteThreshold} users or ${d.sync.deleteThresholdPercent} % of ${linked} linked users): waiting for an operator (idsync sync approve ${meta.id})` }),
    });
  } catch (err) {
    await d.store.clearEntries(meta.id);
    const reason = `${redactText((err as Error).message)}; nothing was applied and nothing removed`;
    d.logger.error({ planId: meta.id, reason }, 'full sync failed while planning');
    const failed = await d.store.save({ ...meta, status: 'failed', reason });
    await audit(d, failed);
    return failed;
  }
  d.logger.info({ planId: planned.id, status: planned.status, counts: planned.counts }, 'full sync planned');
  for (const [action, n] of Object.entries(planned.counts)) planEntries.set({ target: d.target, action }, n);
  if (data.mode !== 'apply' || planned.status === 'staged') {
    await audit(d, planned);
    return planned;
  }
  const applied = await applyPlan(d, planned);
  // Incremental pulls need not look further back than a full sync that completed.
  if (applied.status === 'applied') await advanceBookmark(d.redis, d.prefix, d.target, applied.createdAt);
  await audit(d, applied);
  return applied;
}

async function applyStored(d: FullSyncDeps, planId: string): Promise<PlanMeta> {
  const meta = await d.store.get(planId);
  if (!meta) throw new Error(`no plan ${planId} (plans are kept 30 days)`);
  // Only the approve path enqueues a stored plan, naming its target; a job naming another target
  // would hand one target's entries (disables included) to the other's connector.
  if (meta.target !== d.target) throw new Error(`plan ${planId} is a plan of ${meta.target} and is never applied to ${d.target}`);
  if (meta.dryRun) throw new Error(`plan ${planId} is a dry run and is never applied; run idsync sync run ${meta.target}`);
  if (!['planned', 'approved', 'applying'].includes(meta.status)) throw new Error(`plan ${planId} is ${meta.status} and cannot be applied${meta.status === 'staged' ? ' before an operator approves it' : ''}`);
  const applied = await applyPlan(d, meta);
  if (applied.status === 'applied') await advanceBookmark(d.redis, d.prefix, d.target, applied.createdAt);
  await audit(d, applied);
  return applied;
}

async function audit(d: FullSyncDeps, meta: PlanMeta): Promise<void> {
  const status = meta.status === 'failed' ? 'failed' : meta.status === 'applied' ? 'succeeded' : 'skipped';
  await d.audit.append({
    time: Date.now(), target: d.target, operation: 'full-sync', resource: 'plan', subject: meta.id, status, attempt: 1,
    durationMs: Date.now() - meta.createdAt, ...(meta.reason && { error: meta.reason }),
  });
}
