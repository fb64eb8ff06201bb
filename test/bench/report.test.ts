import { goalMet, markdownRow, toFigure, type Row } from '../../bench/report.js';

describe('bench report', () => {
  const throughput: Row = { name: 'push vs bare loop', value: 900, unit: 'users/s', baseline: 1000, goal: 0.85 };
  const latency: Row = { name: 'p99 vs bare p99', value: 12, unit: 'ms', baseline: 2, goal: 5, goalAtMost: true };
  const writes: Row = { name: 'remote writes for 1,000 updates', value: 3, unit: 'writes', goal: 3, goalAtMost: true };

  it('prints every figure with exactly the documented fields, null where they do not apply', () => {
    expect(toFigure('crowd', throughput)).toEqual({ bench: 'crowd', name: 'push vs bare loop', value: 900, unit: 'users/s', baseline: 1000, ratio: 0.9, goal: 0.85, met: true });
    expect(Object.keys(toFigure('crowd', { name: 'x', value: 1, unit: '', note: 'dropped' }))).toEqual(['bench', 'name', 'value', 'unit', 'baseline', 'ratio', 'goal', 'met']);
    expect(toFigure('crowd', { name: 'x', value: Number.NaN, unit: '' })).toMatchObject({ value: null, baseline: null, ratio: null, goal: null, met: null });
  });

  it('checks a goal in its direction, on the ratio when there is a baseline, else on the value', () => {
    expect(goalMet(throughput)).toBe(true);
    expect(goalMet({ ...throughput, value: 800 })).toBe(false);
    expect(goalMet(latency)).toBe(false);
    expect(goalMet({ ...latency, value: 10 })).toBe(true);
    expect(goalMet(writes)).toBe(true);
    expect(goalMet({ ...writes, value: 4 })).toBe(false);
    expect(goalMet({ ...writes, goal: undefined })).toBeUndefined();
  });

  it('says ≥ or ≤ in the Markdown table', () => {
    expect(markdownRow(throughput)).toBe('| push vs bare loop | 900 users/s | 1,000 users/s | 0.900 | ≥ 0.85 | met |');
    expect(markdownRow(latency)).toBe('| p99 vs bare p99 | 12 ms | 2 ms | 6.000 | ≤ 5 | NOT met |');
    expect(markdownRow({ ...writes, note: 'final state = last snapshot' })).toBe('| remote writes for 1,000 updates | 3 writes | | | ≤ 3 | met; final state = last snapshot |');
  });
});
