/** How a malformed-body fault garbles a Graph reply. */
export type MalformedBodyKind =
  /** 200 with an HTML page (a proxy's or captive portal's sign-in form); the request never reaches Graph. */
  | 'html200'
  /**
   * The real reply, processed normally, with its body cut in half (invalid JSON); a reply
   * without a body (201/204) becomes the first bytes of an error envelope (a 204 turns into a 200).
   */
  | 'truncated';

/** Mutable knobs: injected failures plus the few behaviours tests need to switch. */
export interface EntraFaults {
  /** Probability (0–1) that a Graph request or `$batch` item fails with one of `errorStatuses`. */
  errorRate: number;
  errorStatuses: number[];
  /** The next N Graph requests (batch items count one each) fail with `failNextStatus`. */
  failNext: number;
  failNextStatus: number;
  /** 'before': the request is not applied; 'after': it is applied and the error is returned anyway. */
  failNextMode: 'before' | 'after';
  /** Only requests (or `$batch` items) with one of these methods count toward failNext; null: any. */
  failNextMethods: string[] | null;
  /** Retry-After, in Graph seconds (scaled by timeScale), on injected 429/503/504; null omits the header. */
  faultRetryAfterSeconds: number | null;
  /** Probability of a 429 below the limits ("heavy load"). */
  throttleRate: number;
  /** Added to every HTTPS request (token endpoint included). */
  latencyMs: number;
  latencyJitterMs: number;
  /** A created or restored user stays invisible (404, absent from lists, delta and member adds) this long. */
  eventualConsistencyMs: number;
  /** Each delta page after the first repeats the previous page's last object (Graph's duplicate quirk). */
  deltaDuplicates: boolean;
  /** Delta page size when the client sends no `Prefer: odata.maxpagesize`. */
  deltaPageSize: number;
  /** Delta token lifetime in Graph seconds (scaled by timeScale); Graph's is 7 days. */
  deltaTokenTtlSeconds: number;
  /** The next N token requests fail with 503 (MSAL then blocks client-side for Retry-After or 60 s). */
  tokenFailNext: number;
  /** false disables resource-unit and write-quota enforcement (headers are still sent). */
  throttling: boolean;
  /** Tenant size class for the resource-unit quota; 'auto' derives it from the user count. */
  tenantSize: 'auto' | 'S' | 'M' | 'L';
  /** Enforce the Entra password complexity rules on create and reset. */
  passwordComplexity: boolean;
  /**
   * Probability (0–1) that a top-level Graph reply is garbled (see malformedKind). A `$batch`
   * envelope counts one, never its items: a proxy or a cut connection garbles the whole
   * reply, and items are Graph's own JSON inside it.
   */
  malformedRate: number;
  /**
   * Probability (0–1) that a top-level Graph request (a `$batch` envelope counts one) times
   * out: it is applied, but its reply is held back `stallMs`, past any sane client timeout.
   */
  stallRate: number;
  /** How long a stalled reply is held back, in ms (real time, not scaled). */
  stallMs: number;
  /** Probability (0–1) that the connection of a top-level Graph request is reset before it is read. */
  resetRate: number;
  /** Garble the next N top-level Graph replies. */
  malformedNext: number;
  /** What a malformed-body fault sends. */
  malformedKind: MalformedBodyKind;
}

export const DEFAULT_FAULTS: Readonly<EntraFaults> = Object.freeze({
  errorRate: 0,
  errorStatuses: [500, 502, 503, 504],
  failNext: 0,
  failNextStatus: 503,
  failNextMode: 'before',
  failNextMethods: null,
  faultRetryAfterSeconds: 1,
  throttleRate: 0,
  latencyMs: 0,
  latencyJitterMs: 0,
  eventualConsistencyMs: 0,
  deltaDuplicates: false,
  deltaPageSize: 200,
  deltaTokenTtlSeconds: 7 * 86_400,
  tokenFailNext: 0,
  throttling: true,
  tenantSize: 'auto',
  passwordComplexity: true,
  malformedRate: 0,
  stallRate: 0,
  stallMs: 30_000,
  resetRate: 0,
  malformedNext: 0,
  malformedKind: 'truncated',
});

export function defaultFaults(): EntraFaults {
  return { ...DEFAULT_FAULTS, errorStatuses: [...DEFAULT_FAULTS.errorStatuses] };
}

/** Whether this top-level Graph reply is garbled, consuming `malformedNext` first (deterministic for tests). */
export function takeMalformed(f: EntraFaults, random: () => number): boolean {
  if (f.malformedNext > 0) {
    f.malformedNext--;
    return true;
  }
  return f.malformedRate > 0 && random() < f.malformedRate;
}

/** A network-level fault for one top-level Graph request (resets win over stalls), or null. */
export function takeNetworkFault(f: EntraFaults, random: () => number): 'reset' | 'stall' | null {
  if (f.resetRate > 0 && random() < f.resetRate) return 'reset';
  if (f.stallRate > 0 && random() < f.stallRate) return 'stall';
  return null;
}
