import { cpus } from 'node:os';

export interface Row {
  name: string;
  value: number;
  unit: string;
  baseline?: number;
  /** Goal for value / baseline. */
  goal?: number;
  note?: string;
}

let json = false;

/** `--json`: one JSON object per figure (one line each) instead of Markdown tables. */
export function setJsonOutput(on: boolean): void {
  json = on;
}

export function jsonOutput(): boolean {
  return json;
}

/** Prints one benchmark's table: measured value, the baseline from the same run, ratio and goal. */
export function printTable(title: string, rows: Row[]): void {
  if (json) {
    for (const r of rows) console.log(JSON.stringify({ table: title, ...r, ...(r.baseline && { ratio: r.value / r.baseline }) }));
    return;
  }
  console.log(`\n## ${title}\n`);
  console.log('| measurement | value | baseline (same run) | ratio | goal | |');
  console.log('|---|---:|---:|---:|---:|---|');
  for (const r of rows) {
    const ratio = r.baseline ? r.value / r.baseline : undefined;
    const pass = ratio === undefined || r.goal === undefined ? '' : ratio >= r.goal ? 'met' : 'NOT met';
    console.log(`| ${r.name} | ${fmt(r.value)} ${r.unit} | ${r.baseline === undefined ? '' : `${fmt(r.baseline)} ${r.unit}`} | ${ratio === undefined ? '' : ratio.toFixed(3)} | ${r.goal === undefined ? '' : `≥ ${r.goal}`} | ${[pass, r.note].filter(Boolean).join('; ')} |`);
  }
}

export function machine(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}`;
}

function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2);
}
