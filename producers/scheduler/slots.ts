import { CronExpressionParser } from 'cron-parser';

/**
 * Slot arithmetic on cron expressions in an IANA time zone. A slot is one occurrence of a
 * schedule, identified by its UTC instant, so every replica derives the same slot (and the
 * same id) from the same schedule, whatever its own clock or zone says.
 */

/** The most recent occurrence at or before `at`, or undefined when the expression has none. */
export function slotAtOrBefore(cron: string, timezone: string, at: Date): Date | undefined {
  // prev() is strictly before its start; one millisecond later makes `at` itself count.
  const expression = CronExpressionParser.parse(cron, { currentDate: new Date(at.getTime() + 1), tz: timezone });
  return expression.hasPrev() ? expression.prev().toDate() : undefined;
}

/** The first occurrence strictly after `after`. */
export function slotAfter(cron: string, timezone: string, after: Date): Date {
  return CronExpressionParser.parse(cron, { currentDate: after, tz: timezone }).next().toDate();
}

/**
 * `<name>-YYYYMMDDTHHmmZ` (seconds appended only for schedules that use them). Used as the
 * BullMQ job id, which must neither contain ':' nor be all digits.
 */
export function slotId(name: string, slot: Date): string {
  const iso = slot.toISOString(); // 2026-11-30T02:00:00.000Z
  const date = iso.slice(0, 10).replaceAll('-', '');
  const hhmm = iso.slice(11, 13) + iso.slice(14, 16);
  const ss = iso.slice(17, 19);
  return `${name}-${date}T${hhmm}${ss === '00' ? '' : ss}Z`;
}
