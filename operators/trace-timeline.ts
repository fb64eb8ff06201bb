import type { StoredAuditEntry } from '../shared/audit.js';
import { oneLine } from './audit-query.js';
import type { TraceLink } from './trace.js';
import type { TraceJob } from './trace-jobs.js';
import type { TracePlanEntry } from './trace-plans.js';

/** One thing that happened to the user, for the merged, time-ordered view. */
export interface TraceEvent {
  time: number;
  source: 'plan' | 'job' | 'audit' | 'link';
  /** A target, or `app` for changes applied to the application. */
  target: string;
  text: string;
}

export function timelineOf(parts: { links: TraceLink[]; jobs: TraceJob[]; audit: StoredAuditEntry[]; plans: TracePlanEntry[] }): TraceEvent[] {
  const events: TraceEvent[] = [];
  // A job ends after its attempt was audited and its link written: at an equal time, last.
  const ends: TraceEvent[] = [];
  for (const p of parts.plans) {
    const attrs = [...(p.attributes ?? []), ...(p.appAttributes ?? [])];
    const text = `plan ${p.planId} (${p.planStatus}): ${p.action}${p.remoteName ? ` ${p.remoteName}` : ''}${attrs.length ? ` [${attrs.join(', ')}]` : ''}${p.reason ? ` — ${oneLine(p.reason)}` : ''}`;
    events.push({ time: p.planCreatedAt, source: 'plan', target: p.target, text });
  }
  for (const j of parts.jobs) {
    const finished = j.finishedOn !== undefined;
    events.push({ time: j.createdAt, source: 'job', target: j.queue, text: `${j.name} job ${j.id} enqueued${describe(j.data)}${finished ? '' : `; now ${j.state}${j.attemptsMade ? ` after ${j.attemptsMade} of ${j.attempts} attempts` : ''}`}` });
    if (finished) {
      ends.push({ time: j.finishedOn!, source: 'job', target: j.queue, text: `${j.name} job ${j.id} ${j.state} after ${j.attemptsMade} of ${j.attempts} attempts${j.failedReason ? ` — ${oneLine(j.failedReason)}` : ''}` });
    }
  }
  for (const e of parts.audit) {
    const changed = e.changedAttributes?.length ? ` [${e.changedAttributes.join(', ')}]` : '';
    events.push({ time: e.time, source: 'audit', target: e.target, text: `${e.operation} ${e.status} (attempt ${e.attempt}, ${e.durationMs} ms${e.jobId ? `, job ${e.jobId}` : ''})${changed}${e.error ? ` — ${oneLine(e.error)}` : ''}` });
  }
  for (const l of parts.links) {
    if (l.updatedAt === undefined) continue;
    events.push({ time: l.updatedAt, source: 'link', target: l.target, text: `last updated${l.remoteId ? `: ${l.remoteName ?? ''} (${l.remoteId})` : ''}${l.version === undefined ? '' : `, version ${l.version}`}` });
  }
  // Stable: at equal times a plan comes before its job, a job before its audit entry, that before the
  // link, and the job's end after all of them.
  return [...events, ...ends].sort((a, b) => a.time - b.time);
}

function describe(data: Record<string, unknown>): string {
  const parts = Object.entries(data).filter(([, v]) => v !== undefined).map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(',') : String(v)}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}
