import { StatsCollector } from '../../../emulators/crowd/stats.js';

describe('Crowd emulator stats: busiest sliding second', () => {
  const busiest = (arrivals: number[]) => {
    const stats = new StatsCollector();
    for (const t of arrivals) stats.arrival(t);
    return stats.snapshot(0, 0).busiestSecond;
  };

  it('counts the arrivals within any window (t − 1 s, t], wherever it starts', () => {
    expect(busiest([])).toBe(0);
    // Five at 0..40 ms, five at 990..1030 ms: the busiest windows, e.g. (30, 1030], hold six.
    expect(busiest([0, 10, 20, 30, 40, 990, 1000, 1010, 1020, 1030])).toBe(6);
    // 1000 ms apart are in different windows; 999.9 ms apart share one.
    expect(busiest([0, 1000, 2000])).toBe(1);
    expect(busiest([0, 999.9])).toBe(2);
  });

  it('holds on long runs (the queue compacts) and starts over on reset', () => {
    const stats = new StatsCollector();
    // 5,000 arrivals evenly 10 ms apart: exactly 100 in every window, then a burst of 3 more at once.
    for (let i = 0; i < 5000; i++) stats.arrival(i * 10);
    expect(stats.snapshot(0, 0).busiestSecond).toBe(100);
    for (let i = 0; i < 3; i++) stats.arrival(49_990);
    expect(stats.snapshot(0, 0).busiestSecond).toBe(103);
    stats.reset();
    stats.arrival(50_000);
    expect(stats.snapshot(0, 0).busiestSecond).toBe(1);
  });
});
