// Counters for tests and benchmarks. Admin-endpoint calls are not counted.

export interface CrowdEmulatorStats {
  /** Requests received on the Crowd side (anything but the admin endpoint), faulted ones included. */
  requests: number;
  /** Requests per `METHOD route`, e.g. `POST user`, `GET search`, `DELETE user/group/direct`. */
  byRoute: Record<string, number>;
  /** Responses per HTTP status (connection resets are not responses and count under `resets`). */
  byStatus: Record<string, number>;
  /** 429 responses sent (injected and token bucket). */
  throttled: number;
  /** 5xx responses sent (injected, malformed-html500 and real OPERATION_FAILED). */
  serverErrors: number;
  /** Connections reset by the reset fault. */
  resets: number;
  /** Requests whose reply the stall fault held back (timeouts as the client sees them). */
  stalls: number;
  /** WAF-style HTML 403 pages sent by the fault (not the remote-address allow-list). */
  html403: number;
  /** Replies garbled by the malformed-body fault. */
  malformed: number;
  /** 401 answers (bad or missing application credentials). */
  unauthorized: number;
  /**
   * Most requests (those counted in `requests`) received within any sliding second (t − 1 s, t],
   * timed when their headers arrive, as Crowd's rate-limit filter sees them: before the body.
   */
  busiestSecond: number;
  /** Users currently stored. */
  users: number;
  /** Groups currently stored. */
  groups: number;
}

export class StatsCollector {
  requests = 0;
  byRoute = new Map<string, number>();
  byStatus = new Map<number, number>();
  throttled = 0;
  serverErrors = 0;
  resets = 0;
  stalls = 0;
  html403 = 0;
  malformed = 0;
  unauthorized = 0;
  busiestSecond = 0;
  // Arrival times within the last second, oldest first (a queue: `first` is its head).
  #recent: number[] = [];
  #first = 0;

  request(method: string, route: string): void {
    this.requests++;
    const key = `${method} ${route}`;
    this.byRoute.set(key, (this.byRoute.get(key) ?? 0) + 1);
  }

  /** A request's headers arrived now. */
  arrival(now = performance.now()): void {
    this.#recent.push(now);
    while (this.#recent[this.#first]! <= now - 1000) this.#first++;
    this.busiestSecond = Math.max(this.busiestSecond, this.#recent.length - this.#first);
    if (this.#first > 1024) {
      this.#recent = this.#recent.slice(this.#first);
      this.#first = 0;
    }
  }

  status(status: number): void {
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
    if (status === 429) this.throttled++;
    else if (status >= 500) this.serverErrors++;
    else if (status === 401) this.unauthorized++;
  }

  reset(): void {
    this.requests = 0;
    this.byRoute.clear();
    this.byStatus.clear();
    this.throttled = 0;
    this.serverErrors = 0;
    this.resets = 0;
    this.stalls = 0;
    this.html403 = 0;
    this.malformed = 0;
    this.unauthorized = 0;
    this.busiestSecond = 0;
    this.#recent = [];
    this.#first = 0;
  }

  snapshot(users: number, groups: number): CrowdEmulatorStats {
    return {
      requests: this.requests,
      byRoute: Object.fromEntries(this.byRoute),
      byStatus: Object.fromEntries([...this.byStatus].map(([k, v]) => [String(k), v])),
      throttled: this.throttled,
      serverErrors: this.serverErrors,
      resets: this.resets,
      stalls: this.stalls,
      html403: this.html403,
      malformed: this.malformed,
      unauthorized: this.unauthorized,
      busiestSecond: this.busiestSecond,
      users,
      groups,
    };
  }
}
