import { isErrorClass } from '../../operators/failed-classify.js';
import { listFailed, type ListFailedOptions } from '../../operators/failed-jobs.js';
import { OPERATOR_QUEUES, withQueues } from '../../operators/operator-queues.js';
import { replayFailed, type ReplaySummary } from '../../operators/replay.js';
import { getStatus } from '../../operators/status.js';
import { approvePlan, rejectPlan } from '../../workers/sync/operators.js';
import type { PlanEntry, PlanMeta } from '../../workers/sync/plan-store.js';
import type { QueueName } from '../../shared/jobs.js';
import { field, type DashboardContext } from './context.js';

/**
 * The dashboard's reads and writes, shared by the pages and the JSON API. Each one is a thin
 * call into the operator functions the CLI uses, so both always agree.
 */

export const status = (ctx: DashboardContext) => getStatus({ redis: ctx.redis, prefix: ctx.prefix, targets: ctx.config.targets, schedules: ctx.config.sync });

export interface FailedQuery {
  filter: ListFailedOptions;
  /** The filter as given, to fill the form again. */
  input: Record<string, string>;
  errors: string[];
}

/** The failed-jobs filters of a query string; bad values are reported and left out. */
export function failedQuery(query: unknown): FailedQuery {
  const input: Record<string, string> = {};
  for (const k of ['target', 'errorClass', 'queue', 'since', 'limit']) {
    const v = field(query, k);
    if (v !== undefined) input[k] = v;
  }
  const filter: ListFailedOptions = { limit: 100 };
  const errors: string[] = [];
  if (input.target) filter.target = input.target;
  if (input.errorClass) {
    if (isErrorClass(input.errorClass)) filter.errorClass = input.errorClass;
    else errors.push(`unknown error class "${input.errorClass}"`);
  }
  if (input.queue) {
    if ((OPERATOR_QUEUES as readonly string[]).includes(input.queue)) filter.queues = [input.queue as QueueName];
    else errors.push(`unknown queue "${input.queue}"`);
  }
  if (input.since) {
    const ms = /^\d{4}-\d{2}-\d{2}/.test(input.since) ? Date.parse(input.since) : NaN;
    if (Number.isNaN(ms)) errors.push('since expects an ISO 8601 time such as 2024-05-01T08:00:00Z');
    else filter.since = ms;
  }
  if (input.limit) {
    const n = Number(input.limit);
    if (Number.isInteger(n) && n >= 1 && n <= 1000) filter.limit = n;
    else errors.push('limit expects a whole number from 1 to 1000');
  }
  return { filter, input, errors };
}

export const failed = (ctx: DashboardContext, filter: ListFailedOptions) => withQueues({ redis: ctx.redis, prefix: ctx.prefix }, (queues) => listFailed(queues, filter));

/**
 * Replays the named jobs (`queue/jobId`). No application directory is opened here: the
 * server shares the process with the workers, and the embedded store takes one opener, so a
 * replayed push re-sends the job's own snapshot (the result says so).
 */
export const replay = (ctx: DashboardContext, jobIds: string[]): Promise<ReplaySummary> => replayFailed({ redis: ctx.redis, prefix: ctx.prefix, jobIds });

export function describeReplay(r: ReplaySummary): string {
  const refused = r.results.filter((x) => x.outcome === 'refused').map((x) => `${x.queue}/${x.jobId}: ${x.reason ?? 'refused'}`);
  return `Replayed ${r.replayed}, refused ${r.refused}.${refused.length ? ` ${refused.join('; ')}` : ''}`;
}

export const approve = (ctx: DashboardContext, id: string) => approvePlan(ctx.plans, ctx.syncQueue(), id);
export const reject = (ctx: DashboardContext, id: string) => rejectPlan(ctx.plans, id);

/** Plans whose entries an operator can still act on. */
export const decidable = (p: PlanMeta) => (p.status === 'staged' || p.status === 'planned') && !p.dryRun;

/** Entries read per plan at most for the matches page. */
const MATCH_SCAN = 20_000;

export interface UnresolvedMatch {
  plan: PlanMeta;
  entry: PlanEntry;
}

/**
 * Conflicts (an application user matching several remote users, or one remote user claimed by
 * several application users) of the newest plan of each target that still has its entries:
 * older plans' conflicts are either the same ones again or resolved since.
 */
export async function unresolvedMatches(ctx: DashboardContext): Promise<{ matches: UnresolvedMatch[]; plans: PlanMeta[] }> {
  const plans: PlanMeta[] = [];
  for (const plan of await ctx.plans.list({ limit: 50 })) {
    if (plans.some((p) => p.target === plan.target) || plan.status === 'planning' || plan.status === 'rejected') continue;
    if ((await ctx.plans.entryCount(plan.id)) > 0) plans.push(plan);
  }
  const matches: UnresolvedMatch[] = [];
  for (const plan of plans) {
    if (!plan.counts.conflict) continue;
    for (let start = 0; start < MATCH_SCAN; start += 1000) {
      const page = await ctx.plans.entries(plan.id, start, 1000);
      for (const entry of page) if (entry.action === 'conflict') matches.push({ plan, entry });
      if (page.length < 1000) break;
    }
  }
  return { matches, plans };
}
