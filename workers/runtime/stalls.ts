import type { WorkerOptions } from 'bullmq';
import { STALL_DEFAULTS, type StallSettings } from '../../shared/config.js';

/**
 * BullMQ's lock and stall-check options from IDSYNC_LOCK_DURATION_MS, IDSYNC_STALLED_INTERVAL_MS
 * and IDSYNC_MAX_STALLED_COUNT, for every worker idsync creates. The lock is renewed every half
 * of its duration (BullMQ's `lockRenewTime` default), so a live job loses it only when the event
 * loop or Redis stalls for about half the duration.
 */
export function stallOptions(settings: Partial<StallSettings> = {}): Pick<WorkerOptions, 'lockDuration' | 'stalledInterval' | 'maxStalledCount'> {
  const s = { ...STALL_DEFAULTS, ...settings };
  return { lockDuration: s.lockDurationMs, stalledInterval: s.stalledIntervalMs, maxStalledCount: s.maxStalledCount };
}
