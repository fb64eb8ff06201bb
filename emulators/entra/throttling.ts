import type { Clock } from './clock.js';

/**
 * Graph's identity-service limits (throttling-limits page): resource units per 10 s by
 * tenant size, 3,000 writes per 150 s per app+tenant, plus the per-app and per-tenant caps.
 */
const RU_PER_10S = { S: 3_500, M: 5_000, L: 8_000 } as const;
export type TenantSize = keyof typeof RU_PER_10S;

export function tenantSizeFor(userCount: number): TenantSize {
  return userCount < 50 ? 'S' : userCount <= 500 ? 'M' : 'L';
}

/** Leaky token bucket: usage drains linearly at capacity per window. */
class Bucket {
  private level = 0;
  private last: number;

  constructor(
    readonly capacity: number,
    private readonly windowMs: number,
    now: number,
  ) {
    this.last = now;
  }

  private drain(now: number): void {
    const elapsed = Math.max(0, now - this.last);
    this.level = Math.max(0, this.level - (elapsed * this.capacity) / this.windowMs);
    this.last = now;
  }

  /** ms until `cost` more fits; 0 if it fits now. */
  waitFor(cost: number, now: number): number {
    this.drain(now);
    const excess = this.level + cost - this.capacity;
    return excess <= 0 ? 0 : (excess * this.windowMs) / this.capacity;
  }

  add(cost: number, cap = Infinity): void {
    this.level = Math.min(this.level + cost, cap);
  }

  usage(now: number): number {
    this.drain(now);
    return this.level / this.capacity;
  }
}

interface Limit {
  key: string;
  kind: 'ru' | 'write';
  capacity: number;
  windowSeconds: number;
  scope: string;
}

export type ThrottleDecision =
  | { ok: true; usage: number }
  | { ok: false; retryAfterMs: number; scope: string; information: 'ResourceUnitLimitExceeded' | 'WriteLimitExceeded' };

export class Throttle {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly clock: Clock) {}

  reset(): void {
    this.buckets.clear();
  }

  private bucket(limit: Limit, now: number): Bucket {
    // Size class changes (a tenant growing past 500 users) replace the bucket.
    const key = `${limit.key}:${limit.capacity}`;
    let b = this.buckets.get(key);
    if (!b) {
      b = new Bucket(limit.capacity, this.clock.scaled(limit.windowSeconds), now);
      this.buckets.set(key, b);
    }
    return b;
  }

  private limits(appId: string, tenantId: string, size: TenantSize, write: boolean): Limit[] {
    const ids = `${appId}/${tenantId}`;
    const limits: Limit[] = [
      { key: `ru:${ids}`, kind: 'ru', capacity: RU_PER_10S[size], windowSeconds: 10, scope: `Tenant_Application/ReadWrite/${ids}` },
      { key: `ru:${appId}`, kind: 'ru', capacity: 150_000, windowSeconds: 20, scope: `Application/ReadWrite/${ids}` },
    ];
    if (write) {
      limits.push(
        { key: `w:${ids}`, kind: 'write', capacity: 3_000, windowSeconds: 150, scope: `Tenant_Application/Write/${ids}` },
        { key: `w:${appId}`, kind: 'write', capacity: 35_000, windowSeconds: 300, scope: `Application/Write/${ids}` },
        { key: `w:tenant:${tenantId}`, kind: 'write', capacity: 18_000, windowSeconds: 300, scope: `Tenant/Write/${ids}` },
      );
    }
    return limits;
  }

  /**
   * Admits or refuses one request. Refused requests still accrue resource units (Graph:
   * "resource usage keeps accruing while throttled"), capped at 1.8x so a client that
   * honours Retry-After always gets back in.
   */
  charge(appId: string, tenantId: string, size: TenantSize, cost: number, write: boolean, enforce: boolean): ThrottleDecision {
    const now = this.clock.now();
    const limits = this.limits(appId, tenantId, size, write);
    const buckets = limits.map((l) => this.bucket(l, now));
    if (enforce) {
      let worst: { wait: number; limit: Limit } | undefined;
      limits.forEach((limit, i) => {
        const wait = buckets[i]!.waitFor(limit.kind === 'ru' ? cost : 1, now);
        if (wait > 0 && (!worst || wait > worst.wait)) worst = { wait, limit };
      });
      if (worst) {
        limits.forEach((limit, i) => {
          if (limit.kind === 'ru') buckets[i]!.add(cost, limit.capacity * 1.8);
        });
        return {
          ok: false,
          retryAfterMs: worst.wait,
          scope: worst.limit.scope,
          information: worst.limit.kind === 'ru' ? 'ResourceUnitLimitExceeded' : 'WriteLimitExceeded',
        };
      }
    }
    limits.forEach((limit, i) => buckets[i]!.add(limit.kind === 'ru' ? cost : 1));
    // Only the app+tenant limits are reported, as Graph's header describes the tightest scope.
    const usage = Math.max(buckets[0]!.usage(now), write ? buckets[2]!.usage(now) : 0);
    return { ok: true, usage };
  }
}

/** Base costs and modifiers from the identity-service cost table. */
export function resourceUnitCost(
  kind: CostKind,
  method: string,
  query: { select: boolean; expand: boolean; top: number | undefined },
): number {
  if (method !== 'GET') return 1;
  const base = BASE_COST[kind] ?? 1;
  let cost = base;
  if (query.select) cost -= 1;
  if (query.expand) cost += 1;
  if (query.top !== undefined && query.top < 20) cost -= 1;
  return Math.max(1, cost);
}

export type CostKind = 'usersList' | 'groupMembers' | 'groupTransitiveMembers' | 'memberOf' | 'other';
const BASE_COST: Partial<Record<CostKind, number>> = {
  usersList: 2,
  groupMembers: 3,
  groupTransitiveMembers: 5,
  memberOf: 2,
};

/** `x-ms-throttle-limit-percentage` is only sent above 80 %, in tenths, up to 1.8. */
export function limitPercentageHeader(usage: number): string | undefined {
  if (usage <= 0.8) return undefined;
  return (Math.min(1.8, Math.floor(usage * 10) / 10)).toFixed(1);
}
