import type { Redis } from 'ioredis';
import { budgetRequests, budgetWaitSeconds } from './process-metrics.js';

/**
 * A request budget shared by every worker process of a target (GCRA in Redis).
 * BullMQ's limiter counts jobs started, but one job makes several HTTP calls, and
 * Graph's quota counts writes per app+tenant, so connectors take from this budget
 * before each call. Reservation style: one round trip per call, which returns the
 * reserved slot; the caller waits for it in its own process.
 *
 * The promise is about sliding windows, the strictest way a remote can count (Crowd's
 * token bucket and Graph's leaky buckets both accept whatever a sliding window accepts):
 * no window of 1 s + marginMs holds more than perSecond reserved requests. The slots are
 * spaced evenly rather than bunched at the start of each second, so a request that leaves
 * up to marginMs behind its slot (a busy event loop, a slow network) still keeps every
 * sliding second at the remote within perSecond.
 *
 * The script works in whole microseconds of Redis's clock, so the arithmetic is exact.
 * `<key>:tat-us` holds the theoretical arrival time (TAT): the moment the virtual bucket of
 * `burst` slots, drained one slot per spacing, would be empty. (Not `<key>`, where earlier
 * versions kept milliseconds: during a rolling upgrade they would read microseconds as a
 * TAT centuries ahead and wait for it.)
 */
const RESERVE = `
local now = redis.call('TIME')
local nowUs = tonumber(now[1]) * 1000000 + tonumber(now[2])
local spacing, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < nowUs then tat = nowUs end
local at = tat - (burst - cost) * spacing
if at < nowUs then at = nowUs end
local newTat = tat + cost * spacing
redis.call('SET', KEYS[1], newTat, 'PX', math.ceil((newTat - nowUs) / 1000) + 1000)
return { at, at - nowUs }
`;

export interface RequestBudgetOptions {
  /** Requests per sliding second across all processes; never exceeded in any window of 1 s + marginMs. */
  perSecond: number;
  /**
   * Requests that may go at once after an idle spell (a whole number from 1 to perSecond). The
   * sliding-window promise still holds, so each slot of burst beyond 1 lowers the saturated
   * rate by one request per window. @defaultValue 1
   */
  burst?: number;
  /**
   * How late a request may reach the remote behind its slot (a busy event loop, network
   * jitter) and still keep every sliding second there within perSecond. Saturated, the budget
   * runs at perSecond × 1000 / (1000 + marginMs). @defaultValue 20
   */
  marginMs?: number;
}

/** A reserved slot: when it is due on Redis's clock, and how long the caller waits for it. */
export interface BudgetReservation {
  /** Redis server time of the slot, in whole microseconds since the epoch. */
  atUs: number;
  /** From the moment Redis reserved it until the slot; 0 when it is due at once. */
  waitMs: number;
}

interface BudgetCommands {
  idsyncReserve(key: string, spacingUs: string, burst: string, cost: string): Promise<[number, number]>;
}

export class RequestBudget {
  // EVALSHA through a defined command: this runs before every remote call.
  readonly #redis: Redis & BudgetCommands;
  readonly #key: string;
  readonly #label: string;
  readonly #burst: number;
  readonly #spacingUs: number;

  constructor(redis: Redis, key: string, options: RequestBudgetOptions) {
    const { perSecond, burst = 1, marginMs = 20 } = options;
    if (!(perSecond > 0)) throw new RangeError('perSecond must be > 0');
    if (!Number.isInteger(burst) || burst < 1 || burst > perSecond) throw new RangeError('burst must be a whole number from 1 to perSecond');
    if (!(marginMs >= 0 && marginMs < 1000)) throw new RangeError('marginMs must be from 0 to 999');
    if (!(redis as Partial<BudgetCommands>).idsyncReserve) redis.defineCommand('idsyncReserve', { numberOfKeys: 1, lua: RESERVE });
    this.#redis = redis as Redis & BudgetCommands;
    this.#key = `${key}:tat-us`;
    this.#label = key.slice(key.lastIndexOf(':') + 1);
    this.#burst = burst;
    // The first `burst` requests of a window go at once, the rest one spacing apart: (burst − 1)
    // + (1 s + margin) / spacing ≤ perSecond. Rounded up to whole µs, which only widens the gaps.
    this.#spacingUs = Math.ceil(((1000 + marginMs) * 1000) / (perSecond - burst + 1));
  }

  /** Reserves `cost` requests (at most `burst`) to be sent together; does not wait for the slot. */
  async reserve(cost = 1): Promise<BudgetReservation> {
    if (!Number.isInteger(cost) || cost < 1 || cost > this.#burst) throw new RangeError('cost must be a whole number from 1 to the budget\'s burst');
    const [atUs, waitUs] = await this.#redis.idsyncReserve(this.#key, String(this.#spacingUs), String(this.#burst), String(cost));
    const budget = this.#label;
    budgetRequests.inc({ budget }, cost);
    const waitMs = Number(waitUs) / 1000;
    if (waitMs > 0) budgetWaitSeconds.inc({ budget }, waitMs / 1000);
    return { atUs: Number(atUs), waitMs };
  }

  /** Resolves when `cost` requests may be sent; rejects if the signal aborts first. */
  async take(cost = 1, abortSignal?: AbortSignal): Promise<void> {
    abortSignal?.throwIfAborted();
    const { waitMs } = await this.reserve(cost);
    if (waitMs <= 0) return;
    abortSignal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      // Whole milliseconds, rounded up: a timer never fires before its slot.
      const timer = setTimeout(done, Math.ceil(waitMs));
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
