import { oneLine } from './audit-query.js';
import type { UserTrace } from './trace.js';

/** The human view of a trace: links, jobs, the timeline, and the diagnosis as the last line. */
export function formatTrace(t: UserTrace): string {
  const lines: string[] = [`user ${t.userId}`, '', 'links'];
  for (const l of t.links) {
    lines.push(l.linked
      ? `  ${l.target.padEnd(6)} ${l.remoteName ?? '-'} (${l.remoteId})  version ${l.version ?? '-'}  written hash ${yes(l.writtenHash)}  read hash ${yes(l.readHash)}${l.updatedAt ? `  updated ${iso(l.updatedAt)}` : ''}`
      : `  ${l.target.padEnd(6)} not linked`);
  }
  lines.push('', 'jobs');
  if (!t.jobs.length) lines.push('  none in the queues');
  for (const j of t.jobs) {
    lines.push(`  ${j.queue.padEnd(6)} ${j.name} ${j.id}  ${j.state}  attempts ${j.attemptsMade}/${j.attempts}  enqueued ${iso(j.createdAt)}${j.failedReason ? `  — ${oneLine(j.failedReason)}` : ''}${j.earlierError ? `  (an earlier attempt: ${oneLine(j.earlierError)})` : ''}`);
  }
  lines.push('', 'timeline');
  if (!t.timeline.length) lines.push('  nothing recorded');
  for (const e of t.timeline) lines.push(`  ${iso(e.time)}  ${e.source.padEnd(5)}  ${e.target.padEnd(6)} ${e.text}`);
  const notes: string[] = [];
  if (t.limits.auditLimitReached) notes.push(`only the newest ${t.limits.auditEntries} audit entries were read`);
  if (t.limits.planEntriesCut) notes.push('some large plans were read only in part');
  if (notes.length) lines.push('', `note: ${notes.join('; ')}`);
  lines.push('', `diagnosis: ${t.summary}`);
  return `${lines.join('\n')}\n`;
}

const yes = (b: boolean) => (b ? 'yes' : 'no');
const iso = (ms: number) => new Date(ms).toISOString();
