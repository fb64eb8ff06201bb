// The scheduler's surface, for `idsync scheduler` and `idsync status`.
export { startScheduler, type Scheduler, type StartSchedulerOptions, type UpcomingSlot, type CatchUpResult } from './scheduler.js';
export { buildSchedules, type Schedule, type ScheduleSettings } from './schedules.js';
export { SlotMarkers } from './markers.js';
export { slotAfter, slotAtOrBefore, slotId } from './slots.js';
