import type { Queue } from 'bullmq';
import { JOB_NAMES, SCHEMA_VERSION } from '../../shared/jobs.js';
import type { PlanMeta, PlanStore } from './plan-store.js';

/**
 * What an operator does with a plan (the CLI and the dashboard call these). Approving moves a
 * staged or planned plan to `approved` and enqueues its apply; rejecting drops it for good.
 */
export async function approvePlan(store: PlanStore, syncQueue: Queue, planId: string): Promise<{ plan: PlanMeta; jobId: string }> {
  // Checked before the transition, so that a refused dry run stays as it was (dryRun never changes).
  if ((await store.get(planId))?.dryRun) throw new Error(`plan ${planId} is a dry run and is never applied`);
  const plan = await store.transition(planId, ['staged', 'planned'], 'approved');
  if (!plan) throw new Error(await refusal(store, planId, 'approved'));
  const job = await syncQueue.add(JOB_NAMES.fullSync, { schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), targets: [plan.target], mode: 'apply', planId }, { attempts: 3, backoff: { type: 'exponential', delay: 5000 }, removeOnComplete: { age: 86_400 }, removeOnFail: { age: 30 * 86_400 } });
  return { plan, jobId: job.id! };
}

export async function rejectPlan(store: PlanStore, planId: string): Promise<PlanMeta> {
  const plan = await store.transition(planId, ['staged', 'planned'], 'rejected');
  if (!plan) throw new Error(await refusal(store, planId, 'rejected'));
  await store.clearEntries(planId);
  return plan;
}

async function refusal(store: PlanStore, planId: string, verb: string): Promise<string> {
  const meta = await store.get(planId);
  return meta ? `plan ${planId} is ${meta.status}; only a staged or planned plan can be ${verb}` : `no plan ${planId} (plans are kept 30 days)`;
}
