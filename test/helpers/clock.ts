import { jest } from '@jest/globals';

/** Fixes `Date` at `now` and leaves every timer real, so Redis and BullMQ replies still arrive. */
export function fixDate(now: number): void {
  jest.useFakeTimers({ now, doNotFake: ['hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] });
}
