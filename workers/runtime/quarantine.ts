import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AuditLog } from '../../shared/audit.js';
import { errorKind } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { redactText } from '../../shared/redact.js';
import type { Target } from '../../shared/jobs.js';

export interface QuarantineState {
  reason: string;
  since: number;
}

export interface QuarantineOptions {
  /** A remote target, or `app` for the application side (a webhook refusing idsync's signature). */
  target: Target | 'app';
  queue: Queue;
  redis: Redis;
  prefix: string;
  /** A cheap authenticated call that throws while the target is still misconfigured. */
  probe: () => Promise<void>;
  probeIntervalMs: number;
  logger: Logger;
  audit: AuditLog;
}

/**
 * A misconfigured target (bad secret, missing permission) is quarantined: its queue is
 * paused for every worker process (jobs wait, none are failed), the reason is stored
 * for operators, and the target is probed until a probe passes, then resumed.
 * Any process may probe; a short lock keeps it to one probe per interval cluster-wide.
 */
export class Quarantine {
  readonly #o: QuarantineOptions;
  /** Carries `target` once: a logger already bound to it (a target worker's) is not bound again. */
  readonly #log: Logger;
  readonly #stateKey: string;
  readonly #lockKey: string;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: QuarantineOptions) {
    this.#o = options;
    this.#log = options.logger.bindings().target === options.target ? options.logger : options.logger.child({ target: options.target });
    this.#stateKey = `${options.prefix}:quarantine:${options.target}`;
    this.#lockKey = `${options.prefix}:quarantine-probe:${options.target}`;
  }

  async state(): Promise<QuarantineState | undefined> {
    const raw = await this.#o.redis.get(this.#stateKey);
    return raw ? (JSON.parse(raw) as QuarantineState) : undefined;
  }

  /** Resumes probing for a quarantine left by an earlier process. */
  async start(): Promise<void> {
    if (await this.state()) this.#schedule();
  }

  async enter(reason: string): Promise<void> {
    const state: QuarantineState = { reason: redactText(reason), since: Date.now() };
    const fresh = await this.#o.redis.set(this.#stateKey, JSON.stringify(state), 'NX');
    await this.#o.queue.pause();
    if (fresh) {
      this.#log.error({ reason: state.reason }, 'target quarantined: queue paused until a probe passes');
      await this.#o.audit.append({
        time: state.since, target: this.#o.target, operation: 'quarantine', resource: 'target', subject: this.#o.target,
        status: 'quarantined', attempt: 0, durationMs: 0, error: state.reason,
      });
    }
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** One probe now; resolves true when the target recovered. */
  async probeOnce(): Promise<boolean> {
    const state = await this.state();
    if (!state) return true;
    const locked = await this.#o.redis.set(this.#lockKey, '1', 'PX', Math.max(10, this.#o.probeIntervalMs - 5), 'NX');
    if (!locked) return false;
    try {
      await this.#o.probe();
    } catch (err) {
      this.#log.warn({ kind: errorKind(err), err }, 'quarantine probe failed; target stays paused');
      return false;
    }
    await this.#o.redis.del(this.#stateKey);
    await this.#o.queue.resume();
    this.#log.info({ quarantinedForMs: Date.now() - state.since }, 'target recovered: queue resumed');
    await this.#o.audit.append({
      time: Date.now(), target: this.#o.target, operation: 'recover', resource: 'target', subject: this.#o.target,
      status: 'succeeded', attempt: 0, durationMs: Date.now() - state.since,
    });
    return true;
  }

  #schedule(): void {
    if (this.#timer || this.#stopped) return;
    this.#timer = setTimeout(async () => {
      this.#timer = undefined;
      const recovered = await this.probeOnce().catch((err) => {
        this.#log.warn({ err }, 'quarantine probe errored');
        return false;
      });
      if (!recovered) this.#schedule();
    }, this.#o.probeIntervalMs);
    this.#timer.unref();
  }
}
