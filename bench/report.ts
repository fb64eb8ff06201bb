import { cpus } from 'node:os';

export interface Row {
  name: string;
  value: number;
  unit: string;
  /** The same measurement without idsync, from the same run; the figure is then value ÷ baseline. */
  baseline?: number;
  /** Goal for value ÷ baseline, or for the value itself when there is no baseline. */
  goal?: number;
  /** The goal is an upper bound (value ≤ goal) instead of a lower one (≥). @defaultValue false */
  goalAtMost?: boolean;
  note?: string;
}

/** One figure as `--json` prints it: every field always present, null where it does not apply. */
export interface Figure {
  /** The benchmark's name in bench/run.ts, e.g. `crowd`. */
  bench: string;
  name: string;
  value: number | null;
  unit: string;
  baseline: number | null;
  ratio: number | null;
  /** The bound, as `≥ goal` or `≤ goal` in the tables; which one the Markdown table says. */
  goal: number | null;
  met: boolean | null;
}

let json = false;
let bench = '';

/** `--json`: one JSON object per figure (one line each) instead of Markdown tables. */
export function setJsonOutput(on: boolean): void {
  json = on;
}

export function jsonOutput(): boolean {
  return json;
}

/** The benchmark now running (bench/run.ts sets it); its figures carry the name. */
export function setCurrentBench(name: string): void {
  bench = name;
}

/** value ÷ baseline, when there is a baseline. */
export function ratioOf(row: Row): number | undefined {
  return row.baseline ? row.value / row.baseline : undefined;
}

/** Whether the goal holds; undefined without a goal. */
export function goalMet(row: Row): boolean | undefined {
  if (row.goal === undefined) return undefined;
  const measured = row.baseline === undefined ? row.value : ratioOf(row);
  if (measured === undefined || !Number.isFinite(measured)) return false;
  return row.goalAtMost ? measured <= row.goal : measured >= row.goal;
}

export function toFigure(benchName: string, row: Row): Figure {
  const finite = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? null : n);
  return {
    bench: benchName,
    name: row.name,
    value: finite(row.value),
    unit: row.unit,
    baseline: finite(row.baseline),
    ratio: finite(ratioOf(row)),
    goal: finite(row.goal),
    met: goalMet(row) ?? null,
  };
}

/** `≥ 0.85` / `≤ 5`, or '' without a goal. */
export function goalText(row: Row): string {
  return row.goal === undefined ? '' : `${row.goalAtMost ? '≤' : '≥'} ${row.goal.toLocaleString('en-US')}`;
}

/** One Markdown table row: measurement, value, baseline, ratio, goal, met / note. */
export function markdownRow(row: Row): string {
  const ratio = ratioOf(row);
  const met = goalMet(row);
  const verdict = met === undefined ? '' : met ? 'met' : 'NOT met';
  return `| ${row.name} | ${fmt(row.value)} ${row.unit} | ${row.baseline === undefined ? '' : `${fmt(row.baseline)} ${row.unit}`} | ${ratio === undefined ? '' : ratio.toFixed(3)} | ${goalText(row)} | ${[verdict, row.note].filter(Boolean).join('; ')} |`.replace(/ {2,}\|/g, ' |');
}

/** Prints one benchmark's table: measured value, the baseline from the same run, ratio and goal. */
export function printTable(title: string, rows: Row[]): void {
  if (json) {
    for (const r of rows) console.log(JSON.stringify(toFigure(bench, r)));
    return;
  }
  console.log(`\n## ${title}\n`);
  console.log('| measurement | value | baseline (same run) | ratio | goal | |');
  console.log('|---|---:|---:|---:|---:|---|');
  for (const r of rows) console.log(markdownRow(r));
}

export function machine(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}`;
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : Number.isInteger(n) ? String(n) : n.toFixed(2);
}
