// Quarantine (workers/runtime/quarantine.ts) on its own: the stored state and the probe lock in the
// real Redis under a unique prefix, the audit entries in a real AuditLog beside them, while the
// queue and the probe are stand-ins that record what they were asked. Date and setTimeout are
// faked so the probe schedule is stepped by hand; Redis replies still arrive on real I/O, so a
// timer-driven probe is awaited through the promise its probeOnce returned.
import { jest } from '@jest/globals';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { AuditLog } from '../../shared/audit.js';
import type { Target } from '../../shared/jobs.js';
import type { Logger } from '../../shared/logger.js';
import { ConfigurationError } from '../../shared/errors.js';
import { Quarantine } from '../../workers/runtime/quarantine.js';
import { capturingLogger } from '../helpers/logs.js';
import { deletePrefix, dumpPrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const INTERVAL = 1000;

let redis: Redis;
const prefixes: string[] = [];
beforeAll(async () => {
  redis = workerRedis();
  // Connected before the clock is faked: ioredis' connect timer must stay real.
  await redis.ping();
});
afterAll(() => redis.quit());
beforeEach(() => {
  jest.useFakeTimers({
    now: T0,
    doNotFake: ['hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval'],
  });
});
afterEach(async () => {
  jest.useRealTimers();
  jest.restoreAllMocks();
  for (const p of prefixes.splice(0)) await deletePrefix(redis, p);
});

/** Lets the microtasks queued behind a settled probe (the reschedule) run. */
const flush = () => new Promise<void>((r) => setImmediate(r));

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
}
function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

interface FixtureOptions {
  target?: Target | 'app';
  probeIntervalMs?: number;
  probe?: () => Promise<void>;
  logger?: (root: Logger) => Logger;
}

function fixture(options: FixtureOptions = {}) {
  const target = options.target ?? 'crowd';
  const prefix = uniquePrefix('quarantine');
  prefixes.push(prefix);
  const calls: string[] = [];
  const queue = {
    pause: async () => void calls.push('pause'),
    resume: async () => void calls.push('resume'),
  } as unknown as Queue;
  const probes: number[] = [];
  const probe = options.probe ?? (async () => undefined);
  const logs = capturingLogger();
  const audit = new AuditLog(redis, prefix);
  const quarantine = new Quarantine({
    target, queue, redis, prefix, audit,
    probe: () => { probes.push(Date.now()); return probe(); },
    probeIntervalMs: options.probeIntervalMs ?? INTERVAL,
    logger: options.logger ? options.logger(logs.logger) : logs.logger,
  });
  // Each probeOnce the timer starts, so a test can await the run it triggered.
  const runs: Promise<boolean>[] = [];
  const probeOnce = quarantine.probeOnce.bind(quarantine);
  jest.spyOn(quarantine, 'probeOnce').mockImplementation(() => {
    const run = probeOnce();
    runs.push(run);
    return run;
  });
  const lines = () => logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    quarantine, prefix, calls, probes, audit, runs, lines,
    rawLines: logs.lines,
    stateKey: `${prefix}:quarantine:${target}`,
    lockKey: `${prefix}:quarantine-probe:${target}`,
    store: (state: { reason: string; since: number }) => redis.set(`${prefix}:quarantine:${target}`, JSON.stringify(state)),
    /** Steps the clock by `ms` and waits for the probe run that the step started, if any. */
    async step(ms: number) {
      const before = runs.length;
      await jest.advanceTimersByTimeAsync(ms);
      if (runs.length > before) await runs[runs.length - 1]!.catch(() => undefined);
      await flush();
    },
  };
}

describe('quarantine state', () => {
  it('is undefined until entered, and reads a state stored by another process', async () => {
    const f = fixture();
    expect(await f.quarantine.state()).toBeUndefined();
    await f.store({ reason: 'Crowd rejected the application password', since: T0 - 60_000 });
    expect(await f.quarantine.state()).toEqual({ reason: 'Crowd rejected the application password', since: T0 - 60_000 });
  });

  it('keeps one state per target under the prefix', async () => {
    const f = fixture({ target: 'app' });
    await f.quarantine.enter('the webhook refused the signature');
    f.quarantine.stop();
    expect(JSON.parse((await redis.get(`${f.prefix}:quarantine:app`))!)).toEqual({ reason: 'the webhook refused the signature', since: T0 });
    expect(await redis.exists(`${f.prefix}:quarantine:crowd`)).toBe(0);
  });
});

describe('entering quarantine', () => {
  it('stores the redacted reason and the time without expiry, pauses the queue, logs and audits once, and schedules one probe', async () => {
    const f = fixture();
    await f.quarantine.enter('401 Unauthorized: password=hunter2');
    expect(await redis.get(f.stateKey)).toBe(JSON.stringify({ reason: '401 Unauthorized: password=[Redacted]', since: T0 }));
    expect(await redis.pttl(f.stateKey)).toBe(-1);
    expect(f.calls).toEqual(['pause']);
    expect(f.lines()).toEqual([expect.objectContaining({
      level: 50, target: 'crowd', reason: '401 Unauthorized: password=[Redacted]', msg: 'target quarantined: queue paused until a probe passes',
    })]);
    expect(await f.audit.query()).toEqual([{
      id: expect.stringMatching(/^\d+-\d+$/), time: T0, target: 'crowd', operation: 'quarantine', resource: 'target', subject: 'crowd',
      status: 'quarantined', attempt: 0, durationMs: 0, error: '401 Unauthorized: password=[Redacted]',
    }]);
    // Only the state and the audit stream: no probe lock before a probe runs.
    expect((await redis.keys(`${f.prefix}:*`)).sort()).toEqual([`${f.prefix}:audit`, f.stateKey]);
    expect(await dumpPrefix(redis, f.prefix)).not.toContain('hunter2');
    expect(f.rawLines.join('')).not.toContain('hunter2');
    expect(jest.getTimerCount()).toBe(1);
    expect(f.probes).toEqual([]);
    f.quarantine.stop();
  });

  it('keeps the first reason and time when entered again, pauses again, and neither logs, audits nor schedules twice', async () => {
    const f = fixture();
    await f.quarantine.enter('first: 401');
    jest.setSystemTime(T0 + 5000);
    await f.quarantine.enter('second: 403');
    expect(await f.quarantine.state()).toEqual({ reason: 'first: 401', since: T0 });
    expect(f.calls).toEqual(['pause', 'pause']);
    expect(f.lines()).toHaveLength(1);
    expect((await f.audit.query()).map((e) => e.error)).toEqual(['first: 401']);
    expect(jest.getTimerCount()).toBe(1);
    f.quarantine.stop();
  });

  it('joins a quarantine another process entered: pauses and probes, but neither logs nor audits it again', async () => {
    const f = fixture();
    await f.store({ reason: 'entered elsewhere', since: T0 - 1000 });
    await f.quarantine.enter('here too');
    expect(await f.quarantine.state()).toEqual({ reason: 'entered elsewhere', since: T0 - 1000 });
    expect(f.calls).toEqual(['pause']);
    expect(f.lines()).toEqual([]);
    expect(await f.audit.length()).toBe(0);
    expect(jest.getTimerCount()).toBe(1);
    f.quarantine.stop();
  });

  it('schedules its probe timer unreferenced, so a quarantine never holds the process open', async () => {
    const f = fixture();
    const setTimeoutSpy = jest.spyOn(globalThis, 'setTimeout');
    await f.quarantine.enter('401');
    const timers = setTimeoutSpy.mock.results.map((r) => r.value as NodeJS.Timeout);
    expect(timers).toHaveLength(1);
    expect(timers[0]!.hasRef()).toBe(false);
    f.quarantine.stop();
  });
});

describe('logging', () => {
  // The capturing logger merges duplicate bindings, so whether a child is made is watched directly.
  const watched = (bind: (root: Logger) => Logger) => {
    const made: unknown[] = [];
    const logger = (root: Logger) => {
      const given = bind(root);
      const child = given.child.bind(given);
      jest.spyOn(given, 'child').mockImplementation(((bindings: Record<string, unknown>) => { made.push(bindings); return child(bindings); }) as Logger['child']);
      return given;
    };
    return { logger, made };
  };

  it('adds the target to a logger that does not carry it', async () => {
    const w = watched((root) => root);
    const f = fixture({ target: 'entra', logger: w.logger });
    await f.quarantine.enter('403');
    f.quarantine.stop();
    expect(w.made).toEqual([{ target: 'entra' }]);
    expect(f.lines()[0]).toMatchObject({ target: 'entra' });
  });

  it('does not bind the target again on a logger already bound to it', async () => {
    const w = watched((root) => root.child({ target: 'entra', worker: 'w1' }));
    const f = fixture({ target: 'entra', logger: w.logger });
    await f.quarantine.enter('403');
    f.quarantine.stop();
    expect(w.made).toEqual([]);
    expect(f.lines()[0]).toMatchObject({ target: 'entra', worker: 'w1' });
  });

  it('binds its own target on a logger bound to another one', async () => {
    const w = watched((root) => root.child({ target: 'crowd' }));
    const f = fixture({ target: 'entra', logger: w.logger });
    await f.quarantine.enter('403');
    f.quarantine.stop();
    expect(w.made).toEqual([{ target: 'entra' }]);
    expect(f.lines()[0]).toMatchObject({ target: 'entra' });
  });
});

describe('start', () => {
  it('schedules nothing when no quarantine is stored', async () => {
    const f = fixture();
    await f.quarantine.start();
    expect(jest.getTimerCount()).toBe(0);
    await f.step(INTERVAL * 3);
    expect(f.probes).toEqual([]);
  });

  it('resumes probing a stored quarantine, once however often it is started', async () => {
    const f = fixture();
    await f.store({ reason: 'left by an earlier process', since: T0 - 10_000 });
    await f.quarantine.start();
    await f.quarantine.start();
    expect(jest.getTimerCount()).toBe(1);
    expect(f.calls).toEqual([]);
    await f.step(INTERVAL);
    expect(f.probes).toEqual([T0 + INTERVAL]);
    expect(f.calls).toEqual(['resume']);
    expect(jest.getTimerCount()).toBe(0);
  });
});

describe('probeOnce', () => {
  it('answers true without probing or locking when the target is not quarantined', async () => {
    const f = fixture();
    expect(await f.quarantine.probeOnce()).toBe(true);
    expect(f.probes).toEqual([]);
    expect(await redis.exists(f.lockKey)).toBe(0);
    expect(f.calls).toEqual([]);
    expect(f.lines()).toEqual([]);
    expect(await f.audit.length()).toBe(0);
  });

  it('on a passing probe: drops the state, resumes the queue, logs the time quarantined and audits the recovery', async () => {
    const f = fixture();
    await f.store({ reason: '401', since: T0 - 7000 });
    expect(await f.quarantine.probeOnce()).toBe(true);
    expect(f.probes).toEqual([T0]);
    expect(await redis.exists(f.stateKey)).toBe(0);
    expect(f.calls).toEqual(['resume']);
    expect(f.lines()).toEqual([expect.objectContaining({ level: 30, target: 'crowd', quarantinedForMs: 7000, msg: 'target recovered: queue resumed' })]);
    expect(await f.audit.query()).toEqual([{
      id: expect.any(String), time: T0, target: 'crowd', operation: 'recover', resource: 'target', subject: 'crowd',
      status: 'succeeded', attempt: 0, durationMs: 7000,
    }]);
    // The lock stays until it expires: one probe per interval, whoever passed.
    expect(await redis.get(f.lockKey)).toBe('1');
    expect(jest.getTimerCount()).toBe(0);
  });

  it('holds the probe lock for the interval less 5 ms, never for less than 10 ms', async () => {
    const set = jest.spyOn(redis, 'set');
    const lockTtl = async (probeIntervalMs: number) => {
      const f = fixture({ probeIntervalMs });
      await f.store({ reason: '401', since: T0 });
      set.mockClear();
      await f.quarantine.probeOnce();
      return set.mock.calls.filter((c) => c[0] === f.lockKey).map((c) => c.slice(1));
    };
    expect(await lockTtl(1000)).toEqual([['1', 'PX', 995, 'NX']]);
    expect(await lockTtl(16)).toEqual([['1', 'PX', 11, 'NX']]);
    expect(await lockTtl(15)).toEqual([['1', 'PX', 10, 'NX']]);
    expect(await lockTtl(12)).toEqual([['1', 'PX', 10, 'NX']]);
  });

  it('answers false without probing while another process holds the probe lock', async () => {
    const f = fixture();
    await f.store({ reason: '401', since: T0 });
    await redis.set(f.lockKey, 'other', 'PX', 60_000);
    expect(await f.quarantine.probeOnce()).toBe(false);
    expect(f.probes).toEqual([]);
    expect(await redis.get(f.lockKey)).toBe('other');
    expect(await f.quarantine.state()).toEqual({ reason: '401', since: T0 });
    expect(f.calls).toEqual([]);
  });

  it('on a failing probe: keeps the state and the pause, logs the error kind redacted, and holds the lock until the next interval', async () => {
    const f = fixture({ probe: async () => { throw new ConfigurationError('still 401: token=abc123'); } });
    await f.store({ reason: '401', since: T0 });
    expect(await f.quarantine.probeOnce()).toBe(false);
    expect(await f.quarantine.state()).toEqual({ reason: '401', since: T0 });
    expect(f.calls).toEqual([]);
    expect(await f.audit.length()).toBe(0);
    const [line, ...rest] = f.lines();
    expect(rest).toEqual([]);
    expect(line).toMatchObject({ level: 40, target: 'crowd', kind: 'configuration', msg: 'quarantine probe failed; target stays paused' });
    expect((line!.err as { message: string }).message).toBe('still 401: token=[Redacted]');
    expect(f.rawLines.join('')).not.toContain('abc123');
    // Asked again at once, it does not probe: the lock is still held.
    expect(await f.quarantine.probeOnce()).toBe(false);
    expect(f.probes).toEqual([T0]);
  });
});

describe('the probe schedule', () => {
  it('probes once per interval until a probe passes, then resumes and stops probing', async () => {
    let fail = true;
    const f = fixture({ probe: async () => { if (fail) throw new ConfigurationError('401'); } });
    await f.quarantine.enter('401');
    await f.step(INTERVAL - 1);
    expect(f.probes).toEqual([]);
    await f.step(1);
    expect(f.probes).toEqual([T0 + INTERVAL]);
    expect(jest.getTimerCount()).toBe(1);
    // The lock expires on Redis' clock, which the fake one does not move.
    await redis.del(f.lockKey);
    fail = false;
    await f.step(INTERVAL);
    expect(f.probes).toEqual([T0 + INTERVAL, T0 + 2 * INTERVAL]);
    expect(f.calls).toEqual(['pause', 'resume']);
    expect(await f.quarantine.state()).toBeUndefined();
    expect(jest.getTimerCount()).toBe(0);
    expect((await f.audit.query()).map((e) => [e.operation, e.durationMs])).toEqual([['recover', 2 * INTERVAL], ['quarantine', 0]]);
    await f.step(INTERVAL * 3);
    expect(f.probes).toHaveLength(2);
  });

  it('keeps probing after a probe run that errored, logging the error', async () => {
    const f = fixture();
    await f.quarantine.enter('401');
    // An unreadable state makes the run itself throw, before any probe.
    await redis.set(f.stateKey, 'not json');
    await f.step(INTERVAL);
    await expect(f.runs[0]).rejects.toThrow(SyntaxError);
    expect(f.probes).toEqual([]);
    const errored = f.lines().filter((l) => l.msg === 'quarantine probe errored');
    expect(errored).toEqual([expect.objectContaining({ level: 40, target: 'crowd', err: expect.objectContaining({ type: 'SyntaxError' }) })]);
    expect(jest.getTimerCount()).toBe(1);
    await redis.del(f.stateKey);
    await f.step(INTERVAL);
    expect(f.runs).toHaveLength(2);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('stop cancels the pending probe, and a later entry schedules none', async () => {
    const f = fixture();
    await f.quarantine.enter('401');
    f.quarantine.stop();
    expect(jest.getTimerCount()).toBe(0);
    await f.step(INTERVAL * 2);
    expect(f.probes).toEqual([]);
    await f.quarantine.enter('401 again');
    expect(f.calls).toEqual(['pause', 'pause']);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('does not reschedule after a probe that was running when it was stopped', async () => {
    const started = deferred();
    const gate = deferred();
    const f = fixture({ probe: () => { started.resolve(); return gate.promise; } });
    await f.quarantine.enter('401');
    await jest.advanceTimersByTimeAsync(INTERVAL);
    await started.promise;
    f.quarantine.stop();
    gate.reject(new ConfigurationError('401'));
    expect(await f.runs[0]).toBe(false);
    await flush();
    expect(jest.getTimerCount()).toBe(0);
  });
});
