import type { Job, JobsOptions, Queue } from 'bullmq';
import { LinkStore } from '../shared/links.js';
import type { QueueName } from '../shared/jobs.js';
import type { UserDirectory } from '../workers/app/directory.js';
import { addPushJobs } from '../producers/push-jobs.js';
import { findJob, iterateFailed, summarize, type FailedFilter, type FailedJobSummary } from './failed-jobs.js';
import { OPERATOR_QUEUES, withQueues, type OperatorConnection, type OperatorQueues } from './operator-queues.js';
import { claimSlot, releaseSlot } from './replay-dedup.js';
import { planReplay, type PlanDeps, type ReplayPlan, type SnapshotSource } from './replay-plan.js';

export interface ReplayOptions extends OperatorConnection {
  /** Jobs to replay (`jobId` or `queue/jobId`); or `all`. */
  jobIds?: readonly string[];
  /** Every failed job matching `filter`. */
  all?: boolean;
  /** Narrows `all`; ignored for named jobs. */
  filter?: Omit<FailedFilter, 'queues'>;
  /** Decide and report, change nothing. */
  dryRun?: boolean;
  /**
   * The application directory, or how to open it (the CLI passes `() => openDirectory(config.app)`).
   * Opened once, only when a push job is replayed, and closed afterwards when opened here.
   */
  directory?: UserDirectory | (() => Promise<UserDirectory>);
  /** Called after each job. `total` is an upper bound for `all` (the failed sets' sizes). */
  onProgress?: (progress: { done: number; total: number }) => void;
  /** @defaultValue Date.now() */
  now?: number;
}

export type ReplayOutcome = 'replayed' | 'merged' | 'refused' | 'would-replay' | 'would-merge';

export interface ReplayResult extends Pick<FailedJobSummary, 'jobId' | 'queue' | 'name' | 'target' | 'userId'> {
  outcome: ReplayOutcome;
  /** Why it was refused, or what the replay had to fall back to. */
  reason?: string;
  /** For pushes: where the replayed snapshot came from. */
  snapshot?: SnapshotSource;
  /** For `merged`: the pending job that now carries the snapshot. */
  intoJobId?: string;
}

export interface ReplaySummary {
  dryRun: boolean;
  /** Replayed or merged (or, in a dry run, would be). */
  replayed: number;
  refused: number;
  results: ReplayResult[];
}

/**
 * `idsync failed replay`. Each job's attempts are reset (`job.retry('failed', {
 * resetAttemptsMade: true })`), so it gets its full retry budget again; what runs is decided
 * per job by replay-plan.ts.
 */
export async function replayFailed(options: ReplayOptions): Promise<ReplaySummary> {
  if (!options.all && !options.jobIds?.length) throw new Error('name the jobs to replay, or use --all');
  if (options.all && options.jobIds?.length) throw new Error('name jobs or use --all, not both');
  const now = options.now ?? Date.now();
  const directory = lazyDirectory(options.directory);
  const summary: ReplaySummary = { dryRun: options.dryRun ?? false, replayed: 0, refused: 0, results: [] };
  try {
    await withQueues(options, async (queues) => {
      const deps: PlanDeps = { redis: options.redis, links: new LinkStore(options.redis, options.prefix), directory: directory.get, now };
      const total = options.all ? await failedTotal(queues) : options.jobIds!.length;
      const record = (r: ReplayResult) => {
        summary.results.push(r);
        if (r.outcome === 'refused') summary.refused++;
        else summary.replayed++;
        options.onProgress?.({ done: summary.results.length, total: Math.max(total, summary.results.length) });
      };
      if (options.all) {
        for await (const { queue, job, summary: s } of iterateFailed(queues, options.filter ?? {})) record(await replayOne(deps, queues, queue, job, s, summary.dryRun));
        return;
      }
      for (const ref of options.jobIds!) {
        let found: { queue: QueueName; job: Job };
        try {
          found = await findJob(queues, ref);
        } catch (err) {
          record({ jobId: ref, queue: 'crowd', name: '', target: '', userId: null, outcome: 'refused', reason: (err as Error).message });
          continue;
        }
        record(await replayOne(deps, queues, found.queue, found.job, summarize(found.queue, found.job), summary.dryRun));
      }
    });
  } finally {
    await directory.close();
  }
  return summary;
}

async function replayOne(deps: PlanDeps, queues: OperatorQueues, name: QueueName, job: Job, s: FailedJobSummary, dryRun: boolean): Promise<ReplayResult> {
  const base = { jobId: s.jobId, queue: s.queue, name: s.name, target: s.target, userId: s.userId };
  if (!(await job.isFailed())) return { ...base, outcome: 'refused', reason: `job is ${await job.getState()}, not failed` };
  const queue = queues.get(name);
  const plan = await planReplay(deps, queue, s.target, job);
  if (plan.kind === 'refuse') return { ...base, outcome: 'refused', reason: plan.reason };
  const detail = { ...(plan.snapshot && { snapshot: plan.snapshot }), ...(plan.note && { reason: plan.note }) };
  if (plan.kind === 'merge') {
    if (dryRun) return { ...base, outcome: 'would-merge', intoJobId: plan.into, ...detail };
    const [into] = await addPushJobs(queue, [{ data: plan.data, opts: { ...retryOptions(job.opts), deduplication: { id: plan.slot, keepLastIfActive: true } } }]);
    await job.remove();
    return { ...base, outcome: 'merged', intoJobId: into!, ...detail };
  }
  if (dryRun) return { ...base, outcome: 'would-replay', ...detail };
  return retry(deps, queue, job, plan, base, detail);
}

async function retry(deps: PlanDeps, queue: Queue, job: Job, plan: Extract<ReplayPlan, { kind: 'retry' }>, base: Omit<ReplayResult, 'outcome'>, detail: Partial<ReplayResult>): Promise<ReplayResult> {
  if (plan.slot) {
    const claim = await claimSlot(deps.redis, queue, job, plan.slot, plan.data);
    if (claim.outcome === 'gone') return { ...base, outcome: 'refused', reason: 'the job left the failed set meanwhile (replayed or removed by someone else)' };
    if (claim.outcome === 'pending') return { ...base, outcome: 'refused', reason: `another job for this user (${claim.holder}) was enqueued meanwhile; replay again to merge into it` };
  } else if (plan.data !== undefined) {
    await job.updateData(plan.data);
  }
  try {
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
  } catch (err) {
    if (plan.slot) await releaseSlot(deps.redis, queue, plan.slot, job.id!);
    return { ...base, outcome: 'refused', reason: `BullMQ refused the retry: ${(err as Error).message}` };
  }
  return { ...base, outcome: 'replayed', ...detail };
}

// What a push merged into a pending job keeps of the failed one: retries and retention, not its id.
function retryOptions(opts: JobsOptions): JobsOptions {
  const { attempts, backoff, removeOnComplete, removeOnFail, priority } = opts;
  return { attempts, backoff, removeOnComplete, removeOnFail, ...(priority && { priority }) };
}

async function failedTotal(queues: OperatorQueues): Promise<number> {
  const counts = await Promise.all(OPERATOR_QUEUES.map((q) => queues.get(q).getFailedCount()));
  return counts.reduce((a, b) => a + b, 0);
}

function lazyDirectory(source: ReplayOptions['directory']) {
  let opened: Promise<UserDirectory | { error: string }> | undefined;
  const owned = typeof source === 'function';
  return {
    get: (): Promise<UserDirectory | { error: string }> => {
      if (!source) return Promise.resolve({ error: 'no application directory was given' });
      opened ??= owned ? (source as () => Promise<UserDirectory>)().catch((err: Error) => ({ error: err.message })) : Promise.resolve(source as UserDirectory);
      return opened;
    },
    async close() {
      const d = owned && opened ? await opened : undefined;
      if (d && !('error' in d)) await d.close();
    },
  };
}
