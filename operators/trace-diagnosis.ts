import type { StoredAuditEntry } from '../shared/audit.js';
import type { Target } from '../shared/jobs.js';
import { oneLine } from './audit-query.js';
import type { TraceLink } from './trace.js';
import { PENDING_STATES, type TraceJob } from './trace-jobs.js';
import type { TracePlanEntry } from './trace-plans.js';

/**
 * Why the user is (or is not) on a target, from the newest evidence: a quarantine or a job still
 * under way first, then the last outcome (failed, skipped), then the link. `ok` is false when the
 * user is not in step with the target, so a script can tell without reading the text.
 */
export interface TargetDiagnosis {
  target: Target;
  ok: boolean;
  text: string;
}

export function diagnose(target: Target, facts: { link: TraceLink; jobs: TraceJob[]; audit: StoredAuditEntry[]; plans: TracePlanEntry[] }): TargetDiagnosis {
  const { link } = facts;
  const jobs = facts.jobs.filter((j) => j.queue === target);
  const entries = facts.audit.filter((e) => e.target === target);
  const last = entries.at(-1);
  const reason = (e: { error?: string | undefined } | undefined) => oneLine(e?.error ?? 'no reason recorded');
  const result = (ok: boolean, text: string): TargetDiagnosis => ({ target, ok, text });

  if (last?.status === 'quarantined') return result(false, `${target} is quarantined (its jobs wait until a probe succeeds): ${reason(last)}`);
  const pending = jobs.filter((j) => PENDING_STATES.has(j.state)).at(-1);
  if (pending) {
    const retrying = last && (last.status === 'retrying' || last.status === 'throttled') ? `; last attempt ${last.status}: ${reason(last)}` : '';
    return result(link.linked && !retrying, `${pending.name} job ${pending.id} is ${pending.state}, not applied yet${retrying}`);
  }
  // A failed job newer than its audit entries (the log trimmed, or the audit write failed) still counts.
  const failedJob = jobs.filter((j) => j.state === 'failed' && (j.finishedOn ?? j.createdAt) > (last?.time ?? 0)).at(-1);
  if (failedJob) return result(false, `last ${target} job failed: ${oneLine(failedJob.failedReason ?? 'no reason recorded')}`);
  if (last?.status === 'failed') return result(false, `last ${target} job failed: ${reason(last)}`);
  if (last?.status === 'skipped') return result(link.linked, `last ${target} job skipped: ${reason(last)}`);

  if (!link.linked) {
    const plan = facts.plans.filter((p) => p.target === target).at(-1);
    if (plan?.action === 'conflict') return result(false, `conflict in plan ${plan.planId}, not created: ${oneLine(plan.reason ?? 'no reason recorded')}`);
    if (last?.status === 'succeeded' && last.operation === 'delete') return result(false, `deleted on ${target} at ${iso(last.time)}; the link was removed`);
    if (!jobs.length && !entries.length) {
      if (plan && ['staged', 'planned', 'approved', 'applying'].includes(plan.planStatus)) {
        return result(false, `no link to ${target} and no push job yet: plan ${plan.planId} (${plan.planStatus}) would ${plan.action} the user`);
      }
      return result(false, `no link to ${target} and no push job: the user was never pushed to ${target}`);
    }
    return result(false, `no link to ${target}${last ? `: last ${last.operation} ${last.status} at ${iso(last.time)}` : ''}`);
  }
  const name = link.remoteName ?? link.remoteId;
  const version = link.version === undefined ? '' : `, version ${link.version} applied`;
  return result(true, `in step: linked as ${name}${version}${last ? `; last ${last.operation} ${last.status} at ${iso(last.time)}` : ''}`);
}

const iso = (ms: number) => new Date(ms).toISOString();
