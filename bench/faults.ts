import { STORM, runWorkload } from '../test/chaos/support/storm.js';
import { startEmulator as startCrowdEmulator } from '../test/workers/crowd/helpers.js';
import { startEmulator as startEntraEmulator } from '../test/workers/entra/helpers.js';
import { printTable } from './report.js';

export interface BenchFaultsOptions {
  redisUrl: string;
  /** Users in the workload (each created; every 4th then updated, every 10th deactivated). @defaultValue 1000 */
  users?: number;
  /** Seed of the storm's fault sequence. @defaultValue 20261130 */
  seed?: number;
}

/**
 * Retry cost under a fault storm: the same workload pushed to both emulators twice, through
 * fresh in-process workers each time, first without faults (the minimum), then in a storm of
 * 20 % 5xx, 10 % 429 with Retry-After, 5 % timeouts, 1 % resets and 1 % cut-off replies.
 * The figure is requests under the storm ÷ the minimum (Entra: Graph operations, a `$batch`
 * item counting one). Every faulted request is a request, so at about a third of them
 * faulted the floor is already near 1.5; what idsync adds on top is re-reads and re-sends.
 */
export async function benchFaults(options: BenchFaultsOptions) {
  const users = options.users ?? 1000;
  const [crowd, entra] = await Promise.all([startCrowdEmulator(), startEntraEmulator()]);
  try {
    const minimum = await runWorkload({ redisUrl: options.redisUrl, crowd, entra, users });
    crowd.reset();
    entra.reset();
    const storm = await runWorkload({ redisUrl: options.redisUrl, crowd, entra, users, storm: options.seed ?? 20261130 });
    const faulted = (t: 'crowd' | 'entra') => storm.injected[t] / storm.requests[t];
    const row = (t: 'crowd' | 'entra', name: string) => ({
      name: `${name}: requests under the fault storm vs the fault-free minimum`,
      value: storm.requests[t],
      unit: 'requests',
      baseline: minimum.requests[t],
      goal: 1.5,
      goalAtMost: true,
      note: `${(faulted(t) * 100).toFixed(0)} % of requests faulted (floor ≈ ${(1 / (1 - faulted(t))).toFixed(2)}); ${storm.failed[t]} failed jobs; ${storm.mismatches.filter((m) => m.startsWith(t)).length} users not exact`,
    });
    printTable(`Retry cost under a fault storm (${users.toLocaleString('en-US')} users; ${STORM.serverError * 100} % 5xx, ${STORM.throttle * 100} % 429, ${STORM.timeout * 100} % timeouts, ${STORM.reset * 100} % resets, ${STORM.malformed * 100} % cut-off replies)`, [
      row('crowd', 'Crowd'),
      row('entra', 'Entra'),
    ]);
    for (const reason of storm.failedReasons) console.error(`failed job: ${reason}`);
    return { minimum: minimum.requests, storm: storm.requests, failed: storm.failed, mismatches: storm.mismatches.length };
  } finally {
    await Promise.all([crowd.close(), entra.close()]);
  }
}
