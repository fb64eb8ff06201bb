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
  /** WAF-style HTML 403 pages sent by the fault (not the remote-address allow-list). */
  html403: number;
  /** Replies garbled by the malformed-body fault. */
  malformed: number;
  /** 401 answers (bad or missing application credentials). */
  unauthorized: number;
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
  html403 = 0;
  malformed = 0;
  unauthorized = 0;

  request(method: string, route: string): void {
    this.requests++;
    const key = `${method} ${route}`;
    this.byRoute.set(key, (this.byRoute.get(key) ?? 0) + 1);
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
    this.html403 = 0;
    this.malformed = 0;
    this.unauthorized = 0;
  }

  snapshot(users: number, groups: number): CrowdEmulatorStats {
    return {
      requests: this.requests,
      byRoute: Object.fromEntries(this.byRoute),
      byStatus: Object.fromEntries([...this.byStatus].map(([k, v]) => [String(k), v])),
      throttled: this.throttled,
      serverErrors: this.serverErrors,
      resets: this.resets,
      html403: this.html403,
      malformed: this.malformed,
      unauthorized: this.unauthorized,
      users,
      groups,
    };
  }
}
