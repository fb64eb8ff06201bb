import { validate } from 'node-cron';
import { InvalidEnvironmentError } from '../../shared/errors.js';
import type { SyncConfig } from '../../shared/config.js';
import {
  JOB_NAMES,
  SCHEMA_VERSION,
  fullSyncDataSchema,
  pullChangesDataSchema,
  type FullSyncData,
  type PullChangesData,
  type Target,
} from '../../shared/jobs.js';

/** One recurring job: a cron expression in a time zone and the job each slot becomes. */
export interface Schedule {
  /** Stable across replicas and releases: it names the slot ids and the Redis marker. */
  name: string;
  cron: string;
  timezone: string;
  jobName: typeof JOB_NAMES.fullSync | typeof JOB_NAMES.pullChanges;
  /** The validated payload for the slot with this id. */
  data(slot: string): FullSyncData | PullChangesData;
}

export type ScheduleSettings = Pick<SyncConfig, 'fullSchedule' | 'incrementalSchedule' | 'timezone'>;

/**
 * A nightly full sync per target (so one slow or failing target never holds up another)
 * and one incremental pull for all targets. A schedule set to undefined is off.
 */
export function buildSchedules(targets: readonly Target[], sync: ScheduleSettings): Schedule[] {
  const schedules: Schedule[] = [];
  const { fullSchedule, incrementalSchedule, timezone } = sync;
  const bad = [
    ...(fullSchedule && !validate(fullSchedule) ? [{ path: 'SYNC_FULL_SCHEDULE', message: 'expected a valid cron expression, e.g. "0 2 * * *"' }] : []),
    ...(incrementalSchedule && !validate(incrementalSchedule) ? [{ path: 'SYNC_INCREMENTAL_SCHEDULE', message: 'expected a valid cron expression, e.g. "*/15 * * * *"' }] : []),
  ];
  if (bad.length) throw new InvalidEnvironmentError(bad);
  if (fullSchedule) {
    for (const target of targets) {
      schedules.push({
        name: `full-sync-${target}`,
        cron: fullSchedule,
        timezone,
        jobName: JOB_NAMES.fullSync,
        data: (slot) => fullSyncDataSchema.parse({ schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), targets: [target], mode: 'apply', slot }),
      });
    }
  }
  if (incrementalSchedule && targets.length) {
    schedules.push({
      name: 'pull-changes',
      cron: incrementalSchedule,
      timezone,
      jobName: JOB_NAMES.pullChanges,
      data: (slot) => pullChangesDataSchema.parse({ schemaVersion: SCHEMA_VERSION, enqueuedAt: Date.now(), targets: [...targets], slot }),
    });
  }
  return schedules;
}
