// Fault-injection knobs. Every random decision draws from one seeded PRNG, and only when its
// rate is above zero, so a given seed and request order always fail the same requests. The
// `...Next` counters are the fully deterministic alternative for tests.

import { prng } from '../prng.js';

/** How a malformed-body fault garbles the reply. */
export type MalformedBodyKind =
  /** 200 with an HTML page (an SSO proxy's login form); the request never reaches Crowd. */
  | 'html200'
  /** 500 with Tomcat's HTML error page; the request never reaches Crowd. */
  | 'html500'
  /**
   * The real reply, processed normally, with its body cut in half (invalid JSON/XML); a reply
   * without a body (201/204) becomes the first bytes of an entity (a 204 turns into a 200).
   */
  | 'truncated';

export interface CrowdFaults {
  /** Delay added before every Crowd-path request is handled, in ms. Default 0. */
  latencyMs: number;
  /** Extra delay drawn uniformly from [0, latencyJitterMs) per request, in ms. Default 0. */
  latencyJitterMs: number;

  /** Probability (0..1) that a request fails with a server error. Default 0. */
  serverErrorRate: number;
  /** Fail the next N matching requests with a server error. Default 0. */
  serverErrorNext: number;
  /**
   * Status of injected server errors. 500 answers a Crowd ErrorEntity `OPERATION_FAILED`;
   * 502/503/504 answer a reverse proxy's HTML page without the Crowd version header. Default 500.
   */
  serverErrorStatus: number;
  /**
   * Statuses to draw each injected server error from, evenly (e.g. [500, 502, 503, 504]: Crowd's
   * own failures and its proxy's); null or empty uses `serverErrorStatus`. Default null.
   */
  serverErrorStatuses: number[] | null;

  /**
   * Probability (0..1) that a request is answered 429 with `X-RateLimit-*` headers. The headers
   * advertise the token bucket's settings when one is configured, else a nominal 100 requests/s. Default 0.
   */
  throttleRate: number;
  /** Answer the next N matching requests with 429. Default 0. */
  throttleNext: number;
  /** `Retry-After` (seconds) on injected 429s. Default 1. */
  throttleRetryAfterSeconds: number;
  /**
   * Send `Retry-After` on 429s (injected and token-bucket). Crowd documents only the
   * `X-RateLimit-*` headers, so set false to test the fallback to `X-RateLimit-Interval-Seconds`.
   * Default true.
   */
  sendRetryAfter: boolean;

  /**
   * Token-bucket rate limit (Crowd DC ≥ 5.2 style): refill rate in requests per second; authenticated
   * requests beyond it get 429 with a `Retry-After` computed from the bucket. 0 disables. Default 0.
   */
  rateLimitPerSecond: number;
  /** Bucket size (`X-RateLimit-Limit`). 0 means max(1, ceil(rateLimitPerSecond)). Default 0. */
  rateLimitBurst: number;

  /** Probability (0..1) of a WAF/proxy-style HTML 403 page. Default 0. */
  html403Rate: number;
  /** Answer the next N matching requests with the HTML 403 page. Default 0. */
  html403Next: number;

  /** Probability (0..1) that the connection is reset instead of answered. Default 0. */
  resetRate: number;
  /** Reset the connection of the next N matching requests. Default 0. */
  resetNext: number;

  /**
   * Probability (0..1) that a request times out: it is applied, but its reply is held back
   * for `stallMs`, past any sane client timeout, so the client cannot know whether it was
   * applied. Default 0.
   */
  stallRate: number;
  /** Stall the next N matching requests. Default 0. */
  stallNext: number;
  /** How long a stalled reply is held back, in ms. Default 30000. */
  stallMs: number;

  /** Probability (0..1) of a malformed body (see malformedKind). Default 0. */
  malformedRate: number;
  /** Garble the next N matching replies. Default 0. */
  malformedNext: number;
  /** What a malformed-body fault sends. Default 'truncated'. */
  malformedKind: MalformedBodyKind;

  /**
   * Apply the request first, then fail: server errors, resets and HTML malformed bodies happen
   * after the write took effect (a lost reply), so clients must re-read before retrying. Default false.
   */
  failAfterApply: boolean;
  /** Restrict injected faults (not the token bucket) to these HTTP methods, e.g. ['POST']. Default null = all. */
  onlyMethods: string[] | null;
  /**
   * Restrict injected faults to these route kinds (the path after `rest/usermanagement/1/`,
   * e.g. 'user', 'user/group/direct', 'search'). Default null = all.
   */
  onlyRoutes: string[] | null;
  /** PRNG seed; setting it restarts the random sequence. Default 1. */
  seed: number;

  /** Old-server behaviour (CWD-4819): rename onto an existing name → 500 OPERATION_FAILED instead of 400 INVALID_USER. Default false. */
  renameConflictAs500: boolean;
  /** Crowd 6.x documentation shape: singular JSON list keys (`user`, `group`, `attribute`). Default false. */
  singularListKeys: boolean;
  /** Directory password policy: shorter passwords are refused with 400 INVALID_CREDENTIAL. Default 0 (no policy). */
  passwordMinLength: number;
  /** Accept `POST /user` without a password (unconfirmed on real servers, which required one in 2.x). Default false. */
  allowPasswordlessCreate: boolean;
  /**
   * Incremental synchronisation (`/event`) is available. false: both `/event` calls answer
   * 400 INCREMENTAL_SYNC_NOT_AVAILABLE, as a server with it disabled does. Default true.
   */
  incrementalSync: boolean;
}

export const DEFAULT_CROWD_FAULTS: Readonly<CrowdFaults> = Object.freeze({
  latencyMs: 0,
  latencyJitterMs: 0,
  serverErrorRate: 0,
  serverErrorNext: 0,
  serverErrorStatus: 500,
  serverErrorStatuses: null,
  throttleRate: 0,
  throttleNext: 0,
  throttleRetryAfterSeconds: 1,
  sendRetryAfter: true,
  rateLimitPerSecond: 0,
  rateLimitBurst: 0,
  html403Rate: 0,
  html403Next: 0,
  resetRate: 0,
  resetNext: 0,
  stallRate: 0,
  stallNext: 0,
  stallMs: 30_000,
  malformedRate: 0,
  malformedNext: 0,
  malformedKind: 'truncated',
  failAfterApply: false,
  onlyMethods: null,
  onlyRoutes: null,
  seed: 1,
  renameConflictAs500: false,
  singularListKeys: false,
  passwordMinLength: 0,
  allowPasswordlessCreate: false,
  incrementalSync: true,
});

export type InjectedFault = 'reset' | 'stall' | 'html403' | 'throttle' | 'serverError' | 'malformed';

type CounterKey = 'resetNext' | 'stallNext' | 'html403Next' | 'throttleNext' | 'serverErrorNext' | 'malformedNext';
type RateKey = 'resetRate' | 'stallRate' | 'html403Rate' | 'throttleRate' | 'serverErrorRate' | 'malformedRate';

// Precedence when several would fire: the outermost layer (network, proxy) wins.
const ORDER: readonly [InjectedFault, CounterKey, RateKey][] = [
  ['reset', 'resetNext', 'resetRate'],
  ['stall', 'stallNext', 'stallRate'],
  ['html403', 'html403Next', 'html403Rate'],
  ['throttle', 'throttleNext', 'throttleRate'],
  ['serverError', 'serverErrorNext', 'serverErrorRate'],
  ['malformed', 'malformedNext', 'malformedRate'],
];

export class FaultInjector {
  private state: CrowdFaults = { ...DEFAULT_CROWD_FAULTS };
  private random = prng(DEFAULT_CROWD_FAULTS.seed);

  get current(): Readonly<CrowdFaults> {
    return this.state;
  }

  set(patch: Partial<CrowdFaults>): void {
    this.state = { ...this.state, ...patch };
    if (patch.seed !== undefined) this.random = prng(patch.seed);
  }

  reset(): void {
    this.state = { ...DEFAULT_CROWD_FAULTS };
    this.random = prng(this.state.seed);
  }

  /** Delay for this request in ms (0 when no latency is configured). */
  latency(): number {
    const { latencyMs, latencyJitterMs } = this.state;
    return latencyMs + (latencyJitterMs > 0 ? Math.floor(this.random() * latencyJitterMs) : 0);
  }

  /** The status of one injected server error. */
  serverErrorStatusNow(): number {
    const list = this.state.serverErrorStatuses;
    if (!list?.length) return this.state.serverErrorStatus;
    return list[Math.floor(this.random() * list.length)] ?? this.state.serverErrorStatus;
  }

  /** Picks at most one fault for a request, consuming a `...Next` counter if one fires. */
  decide(method: string, route: string): InjectedFault | null {
    const s = this.state;
    if (s.onlyMethods && !s.onlyMethods.some((m) => m.toUpperCase() === method)) return null;
    if (s.onlyRoutes && !s.onlyRoutes.includes(route)) return null;
    for (const [fault, counter, rate] of ORDER) {
      if (s[counter] > 0) {
        s[counter] -= 1;
        return fault;
      }
      if (s[rate] > 0 && this.random() < s[rate]) return fault;
    }
    return null;
  }
}
