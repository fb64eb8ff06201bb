import type { DoctorReport } from '../operators/doctor.js';
import type { FailedJobSummary } from '../operators/failed-jobs.js';
import type { FailedJobDetail } from '../operators/failed-show.js';
import type { ReplaySummary } from '../operators/replay.js';
import type { StatusReport } from '../operators/status.js';
import { JOB_STATES } from '../operators/status.js';

/** Text output of the operator commands (the `--json` shapes are the reports themselves). */
const out = (line = '') => process.stdout.write(`${line}\n`);

export function printStatus(r: StatusReport): void {
  out(`${'queue'.padEnd(8)}${JOB_STATES.map((s) => s.padStart(12)).join('')}`);
  for (const [name, q] of Object.entries(r.queues)) out(`${name.padEnd(8)}${JOB_STATES.map((s) => String(q.counts[s]).padStart(12)).join('')}${q.isPaused ? '  (paused)' : ''}`);
  const t = r.throughput;
  out(`last ${t.windowSeconds} s: ${t.completed} completed, ${t.failed} failed`);
  const f = r.failuresByClass;
  out(`failed by class: ${Object.entries(f.counts).map(([k, v]) => `${k} ${v}`).join(', ')}${f.scanned < f.total ? ` (newest ${f.scanned} of ${f.total})` : ''}`);
  if (!r.quarantined.length) out('quarantined: none');
  for (const q of r.quarantined) out(`quarantined: ${q.target} since ${q.since}: ${q.reason}`);
  for (const s of r.nextSlots) out(`next ${s.name}: ${s.at}`);
  if (!r.nextSlots.length) out('next slots: no schedule');
}

export function printFailedList(rows: FailedJobSummary[]): void {
  if (!rows.length) out('no failed jobs');
  for (const r of rows) out(`${r.failedAt}  ${r.queue}/${r.jobId}  ${r.name}  ${r.userId ?? '-'}  ${r.errorClass}  attempts ${r.attempts}  ${r.reason}`);
}

export function printFailedShow(d: FailedJobDetail): void {
  out(`job ${d.queue}/${d.jobId} (${d.name}), ${d.state}, target ${d.target || '-'}, user ${d.userId ?? '-'}`);
  out(`attempts: ${d.attempts} of ${d.maxAttempts} (started ${d.attemptsStarted}); created ${d.createdAt}`);
  if (d.reason !== null) out(`failed ${d.failedAt} (${d.errorClass}): ${d.reason}`);
  out(`data: ${JSON.stringify(d.data, null, 2)}`);
  d.stacktrace.forEach((lines, i) => {
    out(`stack of failure ${i + 1}:`);
    for (const l of lines) out(`  ${l}`);
  });
  out(d.audit.length ? 'audit:' : 'audit: no entries');
  for (const e of d.audit) out(`  ${new Date(e.time).toISOString()}  ${e.operation}  ${e.status}  attempt ${e.attempt}${e.error ? `  ${e.error}` : ''}`);
}

export function printReplay(s: ReplaySummary): void {
  for (const r of s.results) {
    const what = r.outcome === 'merged' || r.outcome === 'would-merge' ? `${r.outcome} into ${r.intoJobId}` : r.outcome;
    out(`${r.queue}/${r.jobId}  ${r.name || '-'}  ${r.userId ?? '-'}  ${what}${r.snapshot ? ` (${r.snapshot} snapshot)` : ''}${r.reason ? `: ${r.reason}` : ''}`);
  }
  out(`${s.dryRun ? 'would replay' : 'replayed'} ${s.replayed}, refused ${s.refused}`);
}

export function printDoctor(r: DoctorReport): void {
  for (const c of r.checks) {
    out(`${c.ok ? 'ok     ' : 'PROBLEM'}  ${c.name}: ${c.detail}`);
    if (c.fix) out(`         fix: ${c.fix}`);
  }
  out(r.ok ? 'everything looks right' : `${r.checks.filter((c) => !c.ok).length} problem(s)`);
}
