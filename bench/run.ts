import { benchCrowd } from './crowd.js';
import { benchEnqueue } from './enqueue.js';
import { benchEntra } from './entra.js';
import { machine } from './report.js';

/** `npm run bench` runs every benchmark; `npm run bench -- enqueue` runs the named ones. */
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const benches: Record<string, () => Promise<unknown>> = {
  enqueue: () => benchEnqueue({ redisUrl }),
  crowd: () => benchCrowd({ redisUrl }),
  entra: () => benchEntra({ redisUrl }),
};

const chosen = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = chosen.filter((c) => !benches[c]);
if (unknown.length) {
  console.error(`unknown benchmark ${unknown.join(', ')}; choose from ${Object.keys(benches).join(', ')}`);
  process.exit(2);
}
console.log(`# idsync benchmarks\n\nMachine: ${machine()}; ${new Date().toISOString().slice(0, 10)}`);
for (const name of chosen.length ? chosen : Object.keys(benches)) await benches[name]!();
