import { benchBudget } from './budget.js';
import { benchCoalescing } from './coalescing.js';
import { benchCrowd } from './crowd.js';
import { benchEnqueue } from './enqueue.js';
import { benchEntra } from './entra.js';
import { benchFaults } from './faults.js';
import { benchLatency } from './latency.js';
import { benchProvision } from './provision.js';
import { benchReconcile } from './reconcile.js';
import { benchStalled } from './stalled.js';
import { jsonOutput, machine, setCurrentBench, setJsonOutput } from './report.js';

/**
 * `npm run bench` runs every benchmark; `npm run bench -- enqueue` runs the named ones.
 * Flags:
 *   --json       one JSON object per figure (a line each) instead of Markdown tables: first a
 *                header { machine, date }, then { bench, name, value, unit, baseline, ratio, goal, met }
 *   --users N    users on each side in the reconcile benchmark (default 100,000)
 */
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (i < 0) return undefined;
  const [, inline] = args[i]!.split('=');
  const value = inline ?? args[i + 1];
  args.splice(i, inline === undefined ? 2 : 1);
  return value;
};
const usersArg = flag('--users');
const users = usersArg === undefined ? undefined : Number(usersArg);
if (users !== undefined && !(Number.isInteger(users) && users >= 400)) {
  console.error(`--users expects a whole number of at least 400, got ${usersArg}`);
  process.exit(2);
}
setJsonOutput(args.includes('--json'));

const benches: Record<string, () => Promise<unknown>> = {
  enqueue: () => benchEnqueue({ redisUrl }),
  crowd: () => benchCrowd({ redisUrl }),
  budget: () => benchBudget({ redisUrl }),
  entra: () => benchEntra({ redisUrl }),
  faults: () => benchFaults({ redisUrl }),
  provision: () => benchProvision({ redisUrl }),
  reconcile: () => benchReconcile({ redisUrl, users }),
  stalled: () => benchStalled({ redisUrl }),
  coalescing: () => benchCoalescing({ redisUrl }),
  latency: () => benchLatency({ redisUrl }),
};

const chosen = args.filter((a) => !a.startsWith('-'));
const unknown = chosen.filter((c) => !benches[c]);
if (unknown.length) {
  console.error(`unknown benchmark ${unknown.join(', ')}; choose from ${Object.keys(benches).join(', ')}`);
  process.exit(2);
}
if (jsonOutput()) console.log(JSON.stringify({ machine: machine(), date: new Date().toISOString().slice(0, 10) }));
else console.log(`# idsync benchmarks\n\nMachine: ${machine()}; ${new Date().toISOString().slice(0, 10)}`);
for (const name of chosen.length ? chosen : Object.keys(benches)) {
  setCurrentBench(name);
  await benches[name]!();
}
