import type { Redis } from 'ioredis';
import { budgetRequests, budgetWaitSeconds } from './process-metrics.js';

/**
 * A request budget shared by every worker process of a target (GCRA in Redis).
 * BullMQ's limiter counts jobs started, but one job makes several HTTP calls, and
 * Graph's quota counts writes per app+tenant, so connectors take from this budget
 * before each call. Reservation style: one round trip per call, which returns how
 * long to wait for the reserved slot.
 */
const RESERVE = `
local now = redis.call('TIME')
local nowMs = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local emission, tolerance, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < nowMs then tat = nowMs end
local newTat = tat + emission * cost
redis.call('SET', KEYS[1], newTat, 'PX', math.ceil(newTat - nowMs + tolerance + 1000))
local wait = newTat - tolerance - nowMs
if wait < 0 then wait = 0 end
return math.ceil(wait)
`;

export interface RequestBudgetOptions {
  /** Sustained requests per second across all processes. */
  perSecond: number;
  /** Requests that may go at once after an idle spell. @defaultValue perSecond / 10, at least 1 */
  burst?: number;
}

interface BudgetCommands {
  idsyncReserve(key: string, emissionMs: string, toleranceMs: string, cost: string): Promise<number>;
}

export class RequestBudget {
  // EVALSHA through a defined command: this runs before every remote call.
  readonly #redis: Redis & BudgetCommands;
  readonly #key: string;
  readonly #emissionMs: number;
  readonly #toleranceMs: number;

  constructor(redis: Redis, key: string, options: RequestBudgetOptions) {
    if (!(options.perSecond > 0)) throw new RangeError('perSecond must be > 0');
    if (!(redis as Partial<BudgetCommands>).idsyncReserve) redis.defineCommand('idsyncReserve', { numberOfKeys: 1, lua: RESERVE });
    this.#redis = redis as Redis & BudgetCommands;
    this.#key = key;
    this.#emissionMs = 1000 / options.perSecond;
    const burst = options.burst ?? Math.max(1, Math.floor(options.perSecond / 10));
    this.#toleranceMs = this.#emissionMs * Math.max(1, burst);
  }

  /** Resolves when `cost` requests may be sent; rejects if the signal aborts first. */
  async take(cost = 1, abortSignal?: AbortSignal): Promise<void> {
    abortSignal?.throwIfAborted();
    const waitMs = Number(await this.#redis.idsyncReserve(this.#key, String(this.#emissionMs), String(this.#toleranceMs), String(cost)));
    const budget = this.#key.slice(this.#key.lastIndexOf(':') + 1);
    budgetRequests.inc({ budget }, cost);
    if (waitMs <= 0) return;
    budgetWaitSeconds.inc({ budget }, waitMs / 1000);
    abortSignal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(done, waitMs);
      function done() {
        abortSignal?.removeEventListener('abort', onAbort);
        resolve();
      }
      function onAbort() {
        clearTimeout(timer);
        reject(abortSignal!.reason);
      }
      abortSignal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
