import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import { loadConfig, type Env, type IdsyncConfig } from '../shared/config.js';
import { createRedis, whenReady } from '../shared/redis.js';
import { ERROR_CLASSES, isErrorClass } from '../operators/failed-classify.js';
import { listFailed, type FailedFilter } from '../operators/failed-jobs.js';
import { showFailed } from '../operators/failed-show.js';
import { withQueues } from '../operators/operator-queues.js';
import { replayFailed } from '../operators/replay.js';
import { getStatus } from '../operators/status.js';
import { counterBar } from './operators-progress.js';
import { printDoctor, printFailedList, printFailedShow, printReplay, printStatus } from './operators-print.js';

/**
 * `idsync status`, `idsync failed list|show|replay` and `idsync doctor`: thin wrappers over
 * operators/, each resolving with its exit code (0 fine, 1 something failed or is wrong).
 * They only talk to Redis (and, for replay and doctor, to the application directory and
 * the targets); no worker needs to run.
 */

export const OPERATOR_EXIT = { ok: 0, failed: 1 } as const;

export interface StatusCommandOptions {
  json?: boolean;
}

export interface FailedFilterOptions {
  target?: string;
  errorClass?: string;
  /** ISO 8601. */
  since?: string;
}

export interface FailedListCommandOptions extends FailedFilterOptions {
  /** @defaultValue 100 */
  limit?: string;
  json?: boolean;
}

export interface FailedShowCommandOptions {
  json?: boolean;
}

export interface FailedReplayCommandOptions extends FailedFilterOptions {
  all?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export interface DoctorCommandOptions {
  json?: boolean;
}

async function withRedis<T>(env: Env, run: (config: IdsyncConfig, redis: Redis) => Promise<T>, options: { requireReady?: boolean } = {}): Promise<T> {
  const config = loadConfig(env);
  const redis = createRedis(config.redisUrl, 'producer');
  redis.on('error', () => undefined);
  try {
    const ready = whenReady(redis, { timeoutMs: 5000, failOnError: true });
    if (options.requireReady ?? true) {
      await ready.catch((err: Error) => {
        throw new Error(`${err.message} (REDIS_URL ${config.redisUrl.replace(/\/\/[^@]*@/, '//')})`);
      });
    } else {
      await ready.catch(() => undefined);
    }
    return await run(config, redis);
  } finally {
    redis.disconnect();
  }
}

const json = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

function filterOf(o: FailedFilterOptions): Omit<FailedFilter, 'queues'> {
  if (o.errorClass !== undefined && !isErrorClass(o.errorClass)) throw new Error(`--error-class expects one of ${ERROR_CLASSES.join(', ')}`);
  let since: number | undefined;
  if (o.since !== undefined) {
    since = Date.parse(o.since);
    if (Number.isNaN(since)) throw new Error('--since expects an ISO 8601 time, e.g. 2026-11-30T08:00:00Z');
  }
  return { ...(o.target !== undefined && { target: o.target }), ...(o.errorClass !== undefined && { errorClass: o.errorClass as FailedFilter['errorClass'] }), ...(since !== undefined && { since }) };
}

export async function status(options: StatusCommandOptions = {}, env: Env = process.env): Promise<number> {
  return withRedis(env, async (config, redis) => {
    const report = await getStatus({ redis, prefix: config.prefix, targets: config.targets, schedules: config.sync });
    if (options.json) json(report);
    else printStatus(report);
    return OPERATOR_EXIT.ok;
  });
}

export async function failedList(options: FailedListCommandOptions = {}, env: Env = process.env): Promise<number> {
  const filter = filterOf(options);
  const limit = options.limit === undefined ? 100 : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 0) throw new Error('--limit expects a whole number');
  return withRedis(env, async (config, redis) => {
    const rows = await withQueues({ redis, prefix: config.prefix }, (queues) => listFailed(queues, { ...filter, limit }));
    if (options.json) json(rows);
    else printFailedList(rows);
    return OPERATOR_EXIT.ok;
  });
}

export async function failedShow(jobId: string, options: FailedShowCommandOptions = {}, env: Env = process.env): Promise<number> {
  return withRedis(env, async (config, redis) => {
    const detail = await showFailed({ redis, prefix: config.prefix, jobId });
    if (options.json) json(detail);
    else printFailedShow(detail);
    return OPERATOR_EXIT.ok;
  });
}

export async function failedReplay(jobIds: string[], options: FailedReplayCommandOptions = {}, env: Env = process.env): Promise<number> {
  const filter = filterOf(options);
  return withRedis(env, async (config, redis) => {
    const bar = counterBar(!options.json, options.dryRun ? 'dry run' : 'replay');
    let summary;
    try {
      summary = await replayFailed({
        redis, prefix: config.prefix, jobIds, all: options.all ?? false, filter, dryRun: options.dryRun ?? false,
        // The embedded store belongs to the running `idsync start` (PGlite allows one process per
        // data directory), so it is not opened here: replays then follow the no-directory rule.
        ...(config.app.kind !== 'embedded' && { directory: async () => (await import('../workers/app/open.js')).openDirectory(config.app) }),
        // A bar only pays off for many jobs; a handful print at once.
        onProgress: ({ done, total }) => total > 20 && bar.update(done, total),
      });
    } finally {
      bar.stop();
    }
    if (options.json) json(summary);
    else printReplay(summary);
    return summary.refused ? OPERATOR_EXIT.failed : OPERATOR_EXIT.ok;
  });
}

export async function doctor(options: DoctorCommandOptions = {}, env: Env = process.env): Promise<number> {
  return withRedis(env, async (config, redis) => {
    // Loaded here: the doctor brings both connectors, which the other commands do not need.
    const { runDoctor } = await import('../operators/doctor.js');
    const report = await runDoctor({ config, redis });
    if (options.json) json(report);
    else printDoctor(report);
    return report.ok ? OPERATOR_EXIT.ok : OPERATOR_EXIT.failed;
  }, { requireReady: false });
}

/** Adds the operator commands to the `idsync` program; each exits with its command's code. */
export function registerOperatorCommands(program: Command): void {
  const exitWith = (run: Promise<number>) => run.then((code) => process.exit(code));
  const classes = ERROR_CLASSES.join(', ');
  program
    .command('status')
    .description('queue counts, throughput over the last minute, failures by error class, quarantined targets, next scheduled slots')
    .option('--json', 'print one JSON object')
    .action((o: StatusCommandOptions) => exitWith(status(o)));

  const failed = program.command('failed').description('failed jobs: list, show, replay (exit 1 when a replay was refused)');
  failed
    .command('list')
    .description('the newest failed jobs of every queue')
    .option('--target <target>', 'crowd, entra, app (pulled changes) or a sync job\'s target')
    .option('--error-class <class>', classes)
    .option('--since <iso>', 'only jobs that failed at or after this time (ISO 8601)')
    .option('--limit <n>', 'jobs to list (default 100)')
    .option('--json', 'print a JSON array')
    .action((o: FailedListCommandOptions) => exitWith(failedList(o)));
  failed
    .command('show')
    .description('one job: payload (secrets hidden), attempts, reason, stack, audit entries')
    .argument('<jobId>', 'the job id, or queue/jobId')
    .option('--json', 'print one JSON object')
    .action((jobId: string, o: FailedShowCommandOptions) => exitWith(failedShow(jobId, o)));
  failed
    .command('replay')
    .description('run failed jobs again with their attempts reset; pushes carry the application\'s current data')
    .argument('[jobIds...]', 'job ids (or queue/jobId)')
    .option('--all', 'every failed job matching the filters')
    .option('--target <target>', 'with --all: crowd, entra, app or a sync job\'s target')
    .option('--error-class <class>', `with --all: ${classes}`)
    .option('--since <iso>', 'with --all: only jobs that failed at or after this time (ISO 8601)')
    .option('--dry-run', 'list what would be replayed; change nothing')
    .option('--json', 'print one JSON object')
    .action((jobIds: string[], o: FailedReplayCommandOptions) => exitWith(failedReplay(jobIds, o)));

  program
    .command('doctor')
    .description('check Redis settings, target credentials and permissions, and the application directory (exit 1 on a problem)')
    .option('--json', 'print one JSON object')
    .action((o: DoctorCommandOptions) => exitWith(doctor(o)));
}
