import { Queue, QueueEvents, type Job } from 'bullmq';
import { loadConfig, type Env } from '../shared/config.js';
import { JOB_NAMES, QUEUES, SCHEMA_VERSION, TARGETS, type SyncProgress, type Target } from '../shared/jobs.js';
import { createRedis, sibling, whenReady } from '../shared/redis.js';
import { queueEventsFromNow } from '../shared/queue-events.js';
import { approvePlan, rejectPlan } from '../workers/sync/operators.js';
import { PlanStore, type PlanEntry, type PlanMeta } from '../workers/sync/plan-store.js';
import { progressBar } from './progress.js';

/**
 * `idsync sync …`: enqueue a full-sync job, follow it with a progress bar, print the plan.
 * The work runs in `idsync worker` (or `npm start`); these commands only talk to Redis.
 * Exit codes: 0 done, 1 failed (reason on stderr), 3 staged for approval.
 */

export interface SyncCommandOptions {
  json?: boolean;
  dryRun?: boolean;
  limit?: string;
  /** How long to wait for the worker. @defaultValue 6 hours */
  timeoutMs?: number;
}

export const EXIT = { done: 0, failed: 1, staged: 3 } as const;

/** The JSON shape scripts read (`--json`). */
export function planSummary(plan: PlanMeta): Record<string, unknown> {
  return {
    id: plan.id, target: plan.target, status: plan.status, ...(plan.reason && { reason: plan.reason }), dryRun: plan.dryRun,
    counts: plan.counts, removals: plan.removals, linked: plan.linked, createdAt: new Date(plan.createdAt).toISOString(),
    ...(plan.apply && { apply: plan.apply }),
  };
}

export function exitCodeOf(plan: PlanMeta): number {
  return plan.status === 'failed' ? EXIT.failed : plan.status === 'staged' ? EXIT.staged : EXIT.done;
}

async function withSync<T>(env: Env, run: (ctx: { queue: Queue; events: () => Promise<QueueEvents>; store: PlanStore }) => Promise<T>): Promise<T> {
  const config = loadConfig(env);
  const redis = createRedis(config.redisUrl, 'producer');
  redis.on('error', () => undefined);
  await whenReady(redis, { timeoutMs: 5000, failOnError: true }).catch((err: Error) => {
    throw new Error(`${err.message} (REDIS_URL ${config.redisUrl.replace(/\/\/[^@]*@/, '//')})`);
  });
  const queue = new Queue(QUEUES.sync, { connection: redis, prefix: config.prefix });
  let qe: QueueEvents | undefined;
  try {
    return await run({
      queue,
      store: new PlanStore(redis, config.prefix),
      events: async () => {
        // BullMQ opens (and owns) a blocking copy of this lazy worker connection.
        qe ??= await queueEventsFromNow(queue, redis, sibling(redis, 'worker', { lazyConnect: true }));
        return qe;
      },
    });
  } finally {
    await qe?.close();
    await queue.close();
    redis.disconnect();
  }
}

/** Waits for a full-sync job, drawing its progress (in users, with ETA) on a terminal. */
async function follow(job: Job, events: QueueEvents, options: SyncCommandOptions): Promise<PlanMeta> {
  const bar = progressBar(!options.json);
  const onProgress = ({ jobId, data }: { jobId: string; data: unknown }) => jobId === job.id && bar.update(data as SyncProgress);
  events.on('progress', onProgress);
  try {
    const result = (await job.waitUntilFinished(events, options.timeoutMs ?? 6 * 3_600_000)) as { plans: PlanMeta[] };
    return result.plans[0]!;
  } finally {
    events.off('progress', onProgress);
    bar.stop();
  }
}

function print(plan: PlanMeta, options: SyncCommandOptions, entries?: PlanEntry[]): void {
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ ...planSummary(plan), ...(entries && { entries }) })}\n`);
    return;
  }
  const c = plan.counts;
  process.stdout.write(`plan ${plan.id} (${plan.target}): ${plan.status}${plan.dryRun ? ' (dry run)' : ''}\n`);
  process.stdout.write(`  target:      create ${c.create}, update ${c.update}, disable ${c.disable}, delete ${c.delete}\n`);
  process.stdout.write(`  application: import ${c.import}, appUpdate ${c.appUpdate}, appDisable ${c.appDisable}\n`);
  process.stdout.write(`  link ${c.link}, unchanged ${c.unchanged}, conflict ${c.conflict}\n`);
  if (plan.apply) process.stdout.write(`  applied: ${plan.apply.succeeded} succeeded, ${plan.apply.skipped} skipped, ${plan.apply.failed} failed\n`);
  for (const e of entries ?? []) {
    const who = e.appUserId ?? e.remoteName ?? e.remoteId ?? '';
    const diff = [...(e.diff ?? []), ...(e.appDiff ?? [])].map((d) => `${d.attribute}: ${JSON.stringify(d.target)} → ${JSON.stringify(d.app)}`).join('; ');
    process.stdout.write(`  ${e.action.padEnd(10)} ${who}${e.remoteName && e.appUserId ? ` (${e.remoteName})` : ''}${diff ? `  ${diff}` : ''}${e.reason ? `  — ${e.reason}` : ''}\n`);
  }
}

function checkTarget(target: string): Target {
  if (!(TARGETS as readonly string[]).includes(target)) throw new Error(`unknown target "${target}"; expected one of ${TARGETS.join(', ')}`);
  return target as Target;
}

/** `idsync sync plan <target>` (mode plan) and `idsync sync run <target> [--dry-run]`. */
export async function syncRun(targetArg: string, mode: 'plan' | 'apply', options: SyncCommandOptions, env: Env = process.env): Promise<number> {
  const target = checkTarget(targetArg);
  return withSync(env, async ({ queue, events }) => {
    const qe = await events();
    const job = await queue.add(JOB_NAMES.fullSync, { schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), targets: [target], mode: options.dryRun ? 'dry-run' : mode }, { removeOnComplete: { age: 86_400 }, removeOnFail: { age: 30 * 86_400 } });
    const plan = await follow(job, qe, options);
    print(plan, options);
    if (plan.status === 'failed') process.stderr.write(`idsync: ${plan.reason}\n`);
    if (plan.status === 'staged' && !options.json) process.stderr.write(`${plan.reason}\n`);
    return exitCodeOf(plan);
  });
}

export async function syncShow(planId: string, options: SyncCommandOptions, env: Env = process.env): Promise<number> {
  return withSync(env, async ({ store }) => {
    const plan = await store.get(planId);
    if (!plan) throw new Error(`no plan ${planId} (plans are kept 30 days)`);
    const limit = options.limit === undefined ? 100 : Number(options.limit);
    if (!Number.isInteger(limit) || limit < 0) throw new Error('--limit expects a whole number');
    print(plan, options, await store.entries(planId, 0, limit));
    return EXIT.done;
  });
}

export async function syncApprove(planId: string, options: SyncCommandOptions, env: Env = process.env): Promise<number> {
  return withSync(env, async ({ store, queue, events }) => {
    const qe = await events();
    const { jobId } = await approvePlan(store, queue, planId);
    const job = await queue.getJob(jobId);
    const plan = await follow(job!, qe, options);
    print(plan, options);
    if (plan.status === 'failed') process.stderr.write(`idsync: ${plan.reason}\n`);
    return exitCodeOf(plan);
  });
}

export async function syncReject(planId: string, options: SyncCommandOptions, env: Env = process.env): Promise<number> {
  return withSync(env, async ({ store }) => {
    print(await rejectPlan(store, planId), options);
    return EXIT.done;
  });
}
