import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { createTask, type ScheduledTask } from 'node-cron';
import { QUEUES, type Target } from '../../shared/jobs.js';
import { silentLogger, type Logger } from '../../shared/logger.js';
import { whenReady } from '../../shared/redis.js';
import { standardJobOptions } from '../retention.js';
import { SlotMarkers } from './markers.js';
import { buildSchedules, type Schedule, type ScheduleSettings } from './schedules.js';
import { slotAfter, slotAtOrBefore, slotId } from './slots.js';

export interface StartSchedulerOptions {
  /** Shared with the `sync` queue; the caller owns it and closes it after the scheduler. */
  connection: Redis;
  /** Key prefix (IDSYNC_PREFIX); every key the scheduler writes lives under `<prefix>:`. */
  prefix: string;
  /** Targets to schedule: a full sync for each, one incremental pull for all. */
  targets: readonly Target[];
  /** Cron expressions (undefined = off) and their time zone. */
  sync: ScheduleSettings;
  /** @defaultValue a silent logger */
  logger?: Logger;
  /** Job attempts. @defaultValue 8 (IDSYNC_ATTEMPTS) */
  attempts?: number;
  /** First retry delay. @defaultValue 1000 (IDSYNC_BACKOFF_MS) */
  backoffMs?: number;
  /** Run {@link Scheduler.catchUp} before the cron tasks start. @defaultValue true */
  catchUpOnStart?: boolean;
  /** Start node-cron tasks; false leaves enqueueing to enqueueSlot and catchUp. @defaultValue true */
  cron?: boolean;
}

export interface UpcomingSlot {
  name: string;
  at: Date;
}

export interface CatchUpResult {
  name: string;
  /** The most recent slot at or before the catch-up instant. */
  slot: Date;
  /** `recorded`: first start, remembered but not enqueued; `current`: already enqueued. */
  outcome: 'enqueued' | 'recorded' | 'current';
}

export interface Scheduler {
  readonly schedules: readonly Schedule[];
  /** The next slot of every schedule after `now` (for `idsync status`). */
  nextSlots(now?: Date): UpcomingSlot[];
  /**
   * Enqueues the slot of schedule `name` that `slotTime` falls in (at or before it), unless
   * this or another replica already enqueued it or a later slot. True if this call did.
   */
  enqueueSlot(name: string, slotTime: Date): Promise<boolean>;
  /** Enqueues, per schedule, the latest slot at or before `now` if it is newer than the last enqueued. */
  catchUp(now?: Date): Promise<CatchUpResult[]>;
  /** Stops the cron tasks and waits for enqueues under way; leaves the connection open. */
  close(): Promise<void>;
}

/**
 * Cluster-safe recurring jobs: every replica runs the same cron tasks, and a slot becomes a
 * job only for the replica that moves the slot marker forward (see markers.ts). The job id is
 * the slot id as well, so even a job added twice would exist once.
 */
export async function startScheduler(options: StartSchedulerOptions): Promise<Scheduler> {
  const { connection, prefix } = options;
  const logger = options.logger ?? silentLogger;
  const jobOptions = standardJobOptions(options.attempts ?? 8, options.backoffMs ?? 1000);
  const schedules = buildSchedules(options.targets, options.sync);
  for (const s of schedules) {
    try {
      slotAfter(s.cron, s.timezone, new Date());
    } catch (err) {
      throw new Error(`schedule ${s.name}: cannot use "${s.cron}" in ${s.timezone}: ${(err as Error).message}`);
    }
  }
  await whenReady(connection);
  const markers = new SlotMarkers(connection, prefix);
  const queue = new Queue(QUEUES.sync, { connection, prefix });
  queue.on('error', (err) => logger.error({ err }, 'sync queue error'));

  const byName = new Map(schedules.map((s) => [s.name, s]));
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => undefined);
    return p;
  };

  async function enqueue(schedule: Schedule, slot: Date, recordIfFirst: boolean): Promise<CatchUpResult['outcome']> {
    const claim = await markers.claim(schedule.name, slot, { recordIfFirst });
    if (!claim.claimed) return claim.recorded ? 'recorded' : 'current';
    const jobId = slotId(schedule.name, slot);
    try {
      await queue.add(schedule.jobName, schedule.data(jobId), { ...jobOptions, jobId });
    } catch (err) {
      // Hand the slot back so the next catch-up (start or reconnect) can enqueue it.
      await markers.release(schedule.name, slot, claim.previous).catch((releaseErr: unknown) => logger.error({ err: releaseErr, jobId }, 'slot marker not released'));
      throw err;
    }
    logger.info({ schedule: schedule.name, jobId, slot: slot.toISOString() }, 'scheduled job enqueued');
    return 'enqueued';
  }

  async function enqueueSlot(name: string, slotTime: Date): Promise<boolean> {
    const schedule = byName.get(name);
    if (!schedule) throw new Error(`unknown schedule "${name}"; expected one of ${[...byName.keys()].join(', ') || '(none)'}`);
    // Derived from the schedule, so a late tick still enqueues the slot it belongs to.
    const slot = slotAtOrBefore(schedule.cron, schedule.timezone, slotTime);
    return slot !== undefined && (await enqueue(schedule, slot, false)) === 'enqueued';
  }

  async function catchUp(now = new Date()): Promise<CatchUpResult[]> {
    const results: CatchUpResult[] = [];
    for (const schedule of schedules) {
      const slot = slotAtOrBefore(schedule.cron, schedule.timezone, now);
      if (!slot) continue;
      // Only the latest slot: after three nights down, one full sync, not three.
      const outcome = await enqueue(schedule, slot, true);
      if (outcome === 'recorded') logger.info({ schedule: schedule.name, slot: slot.toISOString() }, 'first start: current slot recorded, not enqueued');
      results.push({ name: schedule.name, slot, outcome });
    }
    return results;
  }

  const tasks: ScheduledTask[] = [];
  try {
    if (options.catchUpOnStart ?? true) await catchUp();
    if (options.cron ?? true) for (const s of schedules) tasks.push(startTask(s));
  } catch (err) {
    await Promise.all(tasks.map((t) => t.destroy()));
    await queue.close();
    throw err;
  }
  // A tick while Redis was away failed; once it is back, the latest missed slot runs once.
  const onReady = () => void track(catchUp()).catch((err: unknown) => logger.error({ err }, 'catch-up after reconnect failed'));
  connection.on('ready', onReady);

  function startTask(schedule: Schedule): ScheduledTask {
    const task = createTask(
      schedule.cron,
      (ctx) =>
        track(enqueueSlot(schedule.name, ctx.date)).catch((err: unknown) =>
          logger.error({ err, schedule: schedule.name, slot: ctx.date.toISOString() }, 'scheduled job not enqueued'),
        ),
      {
        name: `idsync-${schedule.name}`,
        timezone: schedule.timezone,
        // A tick that runs late (busy event loop, suspended host) still runs, for its own slot;
        // of several elapsed slots node-cron runs only the latest and reports the rest as missed.
        missedExecutionTolerance: Number.POSITIVE_INFINITY,
        logger: cronLogger(logger),
      },
    );
    task.on('execution:missed', (ctx) => logger.debug({ schedule: schedule.name, slot: ctx.date.toISOString() }, 'slot superseded by a later one'));
    void task.start();
    return task;
  }

  let closing: Promise<void> | undefined;
  return {
    schedules,
    nextSlots: (now = new Date()) => schedules.map((s) => ({ name: s.name, at: slotAfter(s.cron, s.timezone, now) })),
    enqueueSlot: (name, slotTime) => track(enqueueSlot(name, slotTime)),
    catchUp: (now) => track(catchUp(now)),
    close() {
      closing ??= (async () => {
        connection.off('ready', onReady);
        await Promise.all(tasks.map((t) => t.destroy()));
        await Promise.allSettled([...inFlight]);
        await queue.close();
      })();
      return closing;
    },
  };
}

/** node-cron's own messages go to the application's logger instead of the console. */
function cronLogger(logger: Logger) {
  return {
    info: (message: string) => logger.info(message),
    warn: (message: string) => logger.warn(message),
    error: (message: string | Error, err?: Error) => logger.error({ err: err ?? message }, 'node-cron error'),
    debug: (message: string | Error) => logger.debug(String(message)),
  };
}
