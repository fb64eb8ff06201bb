// Crowd Data Center's limiter is a token bucket: "Max requests" is the bucket size, "Requests
// allowed" the refill per interval (reference §9). Here the interval is one second.

export interface RateLimitVerdict {
  allowed: boolean;
  headers: Record<string, string>;
}

export class TokenBucket {
  private tokens = 0;
  private last = 0;
  private rate = 0;
  private size = 0;

  /** (Re)configures the bucket; a change of settings starts it full. */
  configure(perSecond: number, burst: number): void {
    const size = burst > 0 ? burst : Math.max(1, Math.ceil(perSecond));
    if (perSecond === this.rate && size === this.size) return;
    this.rate = perSecond;
    this.size = size;
    this.tokens = size;
    this.last = performance.now();
  }

  get enabled(): boolean {
    return this.rate > 0;
  }

  take(sendRetryAfter: boolean): RateLimitVerdict {
    const now = performance.now();
    this.tokens = Math.min(this.size, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    const headers: Record<string, string> = {
      'X-RateLimit-Limit': String(this.size),
      'X-RateLimit-Interval-Seconds': '1',
      'X-RateLimit-FillRate': String(this.rate),
    };
    if (this.tokens >= 1) {
      this.tokens -= 1;
      headers['X-RateLimit-Remaining'] = String(Math.floor(this.tokens));
      return { allowed: true, headers };
    }
    headers['X-RateLimit-Remaining'] = '0';
    // Whole seconds until one token has refilled; never 0, or clients would spin.
    if (sendRetryAfter) headers['Retry-After'] = String(Math.max(1, Math.ceil((1 - this.tokens) / this.rate)));
    return { allowed: false, headers };
  }
}
