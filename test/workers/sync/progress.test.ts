// Progress of a sync job in users, with an ETA from the rate so far. Each report is a Redis
// write and an event, so between phases they are throttled; phase changes always go out. The
// clock is fixed so every reported value, the ETA included, can be asserted exactly.
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { SyncProgress } from '../../../shared/jobs.js';
import { ProgressReporter } from '../../../workers/sync/progress.js';

const T0 = 1_800_000_000_000;
let reports: SyncProgress[];

beforeEach(() => {
  jest.useFakeTimers({ now: T0 });
  reports = [];
});
afterEach(() => {
  jest.useRealTimers();
});

const at = (ms: number) => jest.setSystemTime(T0 + ms);
const reporter = (options?: { intervalMs?: number }) => new ProgressReporter((p) => void reports.push(p), options);

describe('ProgressReporter', () => {
  it('reports a new phase at once, with its total and target and nothing done yet', async () => {
    const p = reporter();
    await p.phase('applying', 10, 'crowd');
    expect(reports).toStrictEqual([{ phase: 'applying', done: 0, total: 10, target: 'crowd' }]);
  });

  it('reports a phase without a total or target without those keys', async () => {
    const p = reporter();
    await p.phase('listing');
    await p.add(3);
    expect(reports).toStrictEqual([{ phase: 'listing', done: 0 }]);
    expect(p.snapshot).toStrictEqual({ phase: 'listing', done: 3 });
  });

  it('starts in the listing phase, and its first count goes out', async () => {
    const p = reporter();
    await p.add(2);
    expect(reports).toStrictEqual([{ phase: 'listing', done: 2 }]);
  });

  it('holds counts back for 500 ms after a report by default, then sends the running total', async () => {
    const p = reporter();
    await p.phase('planning', 100);
    at(499);
    await p.add(1);
    expect(reports).toHaveLength(1);
    at(500);
    await p.add(2);
    at(999);
    await p.add(4);
    expect(reports.map((r) => r.done)).toStrictEqual([0, 3]);
    at(1000);
    await p.add(1);
    expect(reports.map((r) => r.done)).toStrictEqual([0, 3, 8]);
  });

  it('honours its own interval; 0 reports every count', async () => {
    const slow = reporter({ intervalMs: 2000 });
    await slow.phase('applying', 10);
    at(1999);
    await slow.add(1);
    expect(reports).toHaveLength(1);
    at(2000);
    await slow.add(1);
    expect(reports).toHaveLength(2);

    reports = [];
    const every = reporter({ intervalMs: 0 });
    await every.phase('applying', 3);
    await every.add(1);
    await every.add(1);
    expect(reports.map((r) => r.done)).toStrictEqual([0, 1, 2]);
  });

  it('a phase change is never held back', async () => {
    const p = reporter();
    await p.phase('listing');
    at(1);
    await p.phase('planning', 5);
    at(2);
    await p.phase('applying', 2, 'entra');
    expect(reports).toStrictEqual([{ phase: 'listing', done: 0 }, { phase: 'planning', done: 0, total: 5 }, { phase: 'applying', done: 0, total: 2, target: 'entra' }]);
  });

  it('estimates the time left from the rate since the phase began, rounded to the millisecond', async () => {
    const p = reporter({ intervalMs: 0 });
    at(-4000);
    await p.phase('listing');
    at(0);
    await p.phase('applying', 5, 'crowd');
    at(1000);
    await p.add(3);
    // 3 users in 1000 ms leaves 2 users: 666.67 ms.
    expect(reports.at(-1)).toStrictEqual({ phase: 'applying', done: 3, total: 5, etaMs: 667, target: 'crowd' });
  });

  it('counts a new phase from zero, timed from its own start', async () => {
    const p = reporter({ intervalMs: 0 });
    await p.phase('planning', 10);
    at(5000);
    await p.add(5);
    await p.phase('applying', 4);
    expect(reports.at(-1)).toStrictEqual({ phase: 'applying', done: 0, total: 4 });
    at(6000);
    await p.add(1);
    expect(reports.at(-1)).toStrictEqual({ phase: 'applying', done: 1, total: 4, etaMs: 3000 });
  });

  it('never estimates a negative time once more is done than expected', async () => {
    const p = reporter({ intervalMs: 0 });
    await p.phase('applying', 2);
    at(100);
    await p.add(5);
    expect(reports.at(-1)).toStrictEqual({ phase: 'applying', done: 5, total: 2, etaMs: 0 });
  });

  it('gives no estimate before anything is done, nor without a total', async () => {
    const p = reporter({ intervalMs: 0 });
    await p.phase('applying', 2);
    at(100);
    expect(p.snapshot).toStrictEqual({ phase: 'applying', done: 0, total: 2 });
    await p.phase('listing');
    at(200);
    await p.add(4);
    expect(reports.at(-1)).toStrictEqual({ phase: 'listing', done: 4 });
  });

  it('keeps the target of an earlier phase until another is named', async () => {
    const p = reporter({ intervalMs: 0 });
    await p.phase('listing', undefined, 'entra');
    await p.phase('planning', 1);
    expect(reports.at(-1)).toStrictEqual({ phase: 'planning', done: 0, total: 1, target: 'entra' });
    await p.phase('applying', 1, 'crowd');
    expect(reports.at(-1)).toStrictEqual({ phase: 'applying', done: 0, total: 1, target: 'crowd' });
  });

  it('a phase total of 0 is a total', async () => {
    const p = reporter({ intervalMs: 0 });
    await p.phase('applying', 0);
    at(10);
    await p.add(1);
    expect(reports).toStrictEqual([{ phase: 'applying', done: 0, total: 0 }, { phase: 'applying', done: 1, total: 0, etaMs: 0 }]);
  });

  it('waits for the report to be written before a phase or count resolves', async () => {
    let release!: () => void;
    const written = new Promise<void>((r) => (release = r));
    const seen: SyncProgress[] = [];
    const p = new ProgressReporter((r) => {
      seen.push(r);
      return written;
    }, { intervalMs: 0 });
    let phased = false;
    const phase = p.phase('applying', 1).then(() => (phased = true));
    let added = false;
    const add = p.add(1).then(() => (added = true));
    await Promise.resolve();
    await Promise.resolve();
    expect([phased, added]).toStrictEqual([false, false]);
    expect(seen).toHaveLength(2);
    release();
    await Promise.all([phase, add]);
    expect([phased, added]).toStrictEqual([true, true]);
  });
});
