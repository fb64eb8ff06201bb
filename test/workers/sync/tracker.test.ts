// How bulk sync work waits for the jobs it enqueued. Most cases drive the tracker with a queue
// and event stream of their own, so each event, each state the occasional check reads and each
// timer step is chosen by the test; the last ones run it on a real BullMQ queue and worker, for
// the shape real events and finished jobs have.
import { EventEmitter, getEventListeners } from 'node:events';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Queue, Worker, type QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { queueEventsFromNow } from '../../../shared/queue-events.js';
import { JobTracker, type Tally } from '../../../workers/sync/tracker.js';
import { deletePrefix, uniquePrefix, workerRedis } from '../../helpers/redis.js';

type Outcome = keyof Tally;

interface StoredJob {
  finishedOn?: number;
  failedReason?: string;
  returnvalue?: unknown;
  state: string | Error;
}

/** A queue that answers from `jobs` and `states`, recording what was asked. */
function standIn() {
  const jobs = new Map<string, StoredJob>();
  const states = new Map<string, string | Error>();
  const asked: string[] = [];
  const stateRead: string[] = [];
  const queue = {
    async getJobState(id: string) {
      const s = states.get(id) ?? 'unknown';
      if (s instanceof Error) throw s;
      return s;
    },
    async getJob(id: string) {
      asked.push(id);
      const j = jobs.get(id);
      return j && {
        finishedOn: j.finishedOn, failedReason: j.failedReason, returnvalue: j.returnvalue,
        getState: async () => {
          stateRead.push(id);
          if (j.state instanceof Error) throw j.state;
          return j.state;
        },
      };
    },
  };
  const events = new EventEmitter();
  const tracker = new JobTracker(queue as unknown as Queue, events as unknown as QueueEvents);
  const completed = (jobId: string, returnvalue: unknown = null) => events.emit('completed', { jobId, returnvalue });
  const failed = (jobId: string) => events.emit('failed', { jobId, failedReason: 'boom' });
  return { queue, jobs, states, asked, stateRead, events, tracker, completed, failed };
}

/** Lets every pending promise callback run (the stand-in answers without I/O). */
const settle = () => new Promise<void>((r) => setImmediate(r));

describe('JobTracker, on a stand-in queue', () => {
  let stop: AbortController;
  let seen: Outcome[];
  const onSettled = (o: Outcome) => void seen.push(o);

  beforeEach(() => {
    jest.useFakeTimers({ doNotFake: ['Date', 'hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'setTimeout', 'clearTimeout'] });
    // Every wait gets this signal, so one a test leaves hanging is ended with it.
    stop = new AbortController();
    seen = [];
  });
  afterEach(() => {
    stop.abort(new Error('test over'));
    jest.useRealTimers();
  });

  it('counts each job as its completion event arrives, and resolves with the tally', async () => {
    const t = standIn();
    const wait = t.tracker.wait(['a', 'b', 'c'], onSettled, { abortSignal: stop.signal });
    t.completed('b', { outcome: 'skipped' });
    t.completed('a', { outcome: 'created' });
    expect(seen).toStrictEqual(['skipped', 'succeeded']);
    t.states.set('c', 'failed');
    t.failed('c');
    await expect(wait).resolves.toStrictEqual({ succeeded: 1, skipped: 1, failed: 1 });
    expect(seen).toStrictEqual(['skipped', 'succeeded', 'failed']);
  });

  it.each([
    ['an object saying skipped', 'skipped', { outcome: 'skipped' }],
    ['an object with another outcome', 'succeeded', { outcome: 'updated' }],
    ['an object without an outcome', 'succeeded', { changed: [] }],
    ['null', 'succeeded', null],
    ['nothing', 'succeeded', undefined],
    ['JSON text saying skipped', 'skipped', '{"outcome":"skipped"}'],
    ['JSON text of another outcome', 'succeeded', '{"outcome":"created"}'],
    ['JSON null', 'succeeded', 'null'],
    ['text that is not JSON', 'succeeded', 'skipped'],
    ['a JSON string', 'succeeded', '"skipped"'],
  ] as const)('reads a job that returned %s as %s', async (_, outcome, returnvalue) => {
    const t = standIn();
    const wait = t.tracker.wait(['a'], onSettled, { abortSignal: stop.signal });
    t.completed('a', returnvalue);
    await expect(wait).resolves.toStrictEqual({ succeeded: 0, skipped: 0, failed: 0, [outcome]: 1 });
  });

  it('remembers jobs that finished before anyone waited for them, once', async () => {
    const t = standIn();
    t.completed('a', { outcome: 'skipped' });
    t.completed('b');
    t.states.set('c', 'failed');
    t.failed('c');
    await settle();
    const wait = t.tracker.wait(['a', 'b', 'c'], onSettled, { abortSignal: stop.signal });
    // Known outcomes are counted at once, before the wait yields.
    expect(seen).toStrictEqual(['skipped', 'succeeded', 'failed']);
    await expect(wait).resolves.toStrictEqual({ succeeded: 1, skipped: 1, failed: 1 });

    // The memory is used up: a second wait for the same job waits for a new event.
    const again = t.tracker.wait(['a'], onSettled, { abortSignal: stop.signal });
    await settle();
    expect(seen).toHaveLength(3);
    t.completed('a');
    await expect(again).resolves.toStrictEqual({ succeeded: 1, skipped: 0, failed: 0 });
  });

  it('does not also remember a job whose end was waited for', async () => {
    const t = standIn();
    const wait = t.tracker.wait(['a'], onSettled, { abortSignal: stop.signal });
    t.completed('a');
    await wait;
    const again = t.tracker.wait(['a'], onSettled, { abortSignal: stop.signal });
    await settle();
    expect(seen).toStrictEqual(['succeeded']);
    t.completed('a', { outcome: 'skipped' });
    await expect(again).resolves.toStrictEqual({ succeeded: 0, skipped: 1, failed: 0 });
  });

  it('counts a job named twice once', async () => {
    const t = standIn();
    const wait = t.tracker.wait(['a', 'a', 'b'], onSettled, { abortSignal: stop.signal });
    t.completed('a');
    t.completed('b');
    await expect(wait).resolves.toStrictEqual({ succeeded: 2, skipped: 0, failed: 0 });
    expect(seen).toStrictEqual(['succeeded', 'succeeded']);
  });

  it('has nothing to wait for without jobs', async () => {
    const t = standIn();
    await expect(t.tracker.wait([], onSettled)).resolves.toStrictEqual({ succeeded: 0, skipped: 0, failed: 0 });
    expect(seen).toStrictEqual([]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('takes a failed attempt that will be retried as not finished', async () => {
    const t = standIn();
    const wait = t.tracker.wait(['a'], onSettled, { abortSignal: stop.signal });
    t.states.set('a', 'delayed');
    t.failed('a');
    t.states.set('b', 'waiting');
    t.failed('b');
    await settle();
    expect(seen).toStrictEqual([]);
    t.states.set('a', 'failed');
    t.failed('a');
    await expect(wait).resolves.toStrictEqual({ succeeded: 0, skipped: 0, failed: 1 });
    // b's retried attempt was not remembered as a failure either.
    const b = t.tracker.wait(['b'], onSettled, { abortSignal: stop.signal });
    await settle();
    expect(seen).toStrictEqual(['failed']);
    t.completed('b');
    await expect(b).resolves.toStrictEqual({ succeeded: 1, skipped: 0, failed: 0 });
  });

  it('does not count a failure whose state cannot be read', async () => {
    const t = standIn();
    const wait = t.tracker.wait(['a'], onSettled, { abortSignal: stop.signal });
    t.states.set('a', new Error('connection lost'));
    t.failed('a');
    await settle();
    expect(seen).toStrictEqual([]);
    t.completed('a');
    await expect(wait).resolves.toStrictEqual({ succeeded: 1, skipped: 0, failed: 0 });
  });

  it('looks at the jobs still waited for every 2 s by default, and not before', async () => {
    const t = standIn();
    const wait = t.tracker.wait(['a', 'b'], onSettled, { abortSignal: stop.signal });
    t.completed('a');
    await jest.advanceTimersByTimeAsync(1999);
    expect(t.asked).toStrictEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    await settle();
    // b is gone from the queue without an event: removed, or coalesced into another job.
    expect(t.asked).toStrictEqual(['b']);
    await expect(wait).resolves.toStrictEqual({ succeeded: 1, skipped: 1, failed: 0 });
    expect(jest.getTimerCount()).toBe(0);
  });

  it('settles, at its own check interval, jobs whose end it missed, by their stored state', async () => {
    const t = standIn();
    t.jobs.set('gone-failed', { finishedOn: 5, failedReason: 'boom', state: 'failed' });
    t.jobs.set('done-skipped', { finishedOn: 5, returnvalue: { outcome: 'skipped' }, state: 'completed' });
    t.jobs.set('done-text', { finishedOn: 5, returnvalue: '{"outcome":"skipped"}', state: 'completed' });
    // Failed an attempt, then succeeded: the reason of the failed attempt stays on the job.
    t.jobs.set('retried-ok', { finishedOn: 5, failedReason: 'boom', returnvalue: { outcome: 'updated' }, state: 'completed' });
    t.jobs.set('waiting', { state: 'waiting' });
    t.jobs.set('retrying', { failedReason: 'boom', state: 'delayed' });
    // Finished once, then retried by hand: it runs again.
    t.jobs.set('rerun-failed', { finishedOn: 5, failedReason: 'boom', state: 'waiting' });
    t.jobs.set('rerun-done', { finishedOn: 5, state: 'active' });
    const ids = ['gone-failed', 'done-skipped', 'done-text', 'retried-ok', 'waiting', 'retrying', 'rerun-failed', 'rerun-done'];
    const wait = t.tracker.wait(ids, onSettled, { checkEveryMs: 50, abortSignal: stop.signal });
    await jest.advanceTimersByTimeAsync(49);
    expect(t.asked).toStrictEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    await settle();
    expect(t.asked).toStrictEqual(ids);
    expect(seen).toStrictEqual(['failed', 'skipped', 'skipped', 'succeeded']);
    // A job's state is a round trip of its own: read only for jobs that have finished once.
    expect(t.stateRead).toStrictEqual(['gone-failed', 'done-skipped', 'done-text', 'retried-ok', 'retried-ok', 'rerun-failed', 'rerun-failed', 'rerun-done']);

    // The rest are looked at again on the next check.
    t.jobs.set('waiting', { finishedOn: 6, state: 'completed' });
    t.jobs.set('rerun-failed', { finishedOn: 6, failedReason: 'boom again', state: 'failed' });
    t.jobs.delete('retrying');
    t.jobs.set('rerun-done', { finishedOn: 6, returnvalue: { outcome: 'skipped' }, state: 'completed' });
    await jest.advanceTimersByTimeAsync(50);
    await expect(wait).resolves.toStrictEqual({ succeeded: 2, skipped: 4, failed: 2 });
    expect(t.asked.slice(ids.length)).toStrictEqual(['waiting', 'retrying', 'rerun-failed', 'rerun-done']);
  });

  it('counts nothing from a check whose reads fail, and looks again at the next one', async () => {
    const t = standIn();
    const lost = new Error('connection lost');
    const getJob = t.queue.getJob;
    t.queue.getJob = async (id: string) => {
      if (id === 'b') throw lost;
      return getJob(id);
    };
    t.jobs.set('c', { finishedOn: 5, failedReason: 'boom', state: lost });
    const wait = t.tracker.wait(['a', 'b', 'c'], onSettled, { checkEveryMs: 10, abortSignal: stop.signal });
    await jest.advanceTimersByTimeAsync(10);
    await settle();
    // a is gone; the check ends at b, whose read failed, rather than counting it as gone.
    expect(seen).toStrictEqual(['skipped']);
    t.queue.getJob = getJob;
    await jest.advanceTimersByTimeAsync(10);
    await settle();
    // c's state cannot be read either: still waited for.
    expect(seen).toStrictEqual(['skipped', 'skipped']);
    t.jobs.set('c', { finishedOn: 5, failedReason: 'boom', state: 'failed' });
    await jest.advanceTimersByTimeAsync(10);
    await expect(wait).resolves.toStrictEqual({ succeeded: 0, skipped: 2, failed: 1 });
  });

  it('looks at no more than 200 jobs per check', async () => {
    const t = standIn();
    const ids = Array.from({ length: 201 }, (_, i) => `j${i}`);
    const wait = t.tracker.wait(ids, onSettled, { checkEveryMs: 10, abortSignal: stop.signal });
    await jest.advanceTimersByTimeAsync(10);
    await settle();
    expect(t.asked).toStrictEqual(ids.slice(0, 200));
    expect(seen).toHaveLength(200);
    await jest.advanceTimersByTimeAsync(10);
    await expect(wait).resolves.toStrictEqual({ succeeded: 0, skipped: 201, failed: 0 });
    expect(t.asked.slice(200)).toStrictEqual(['j200']);
  });

  it('stops waiting when the signal is aborted, with its reason; the jobs are forgotten, not cancelled', async () => {
    const t = standIn();
    const shutdown = new AbortController();
    const wait = t.tracker.wait(['a'], onSettled, { abortSignal: shutdown.signal });
    shutdown.abort(new Error('worker stopping'));
    await expect(wait).rejects.toThrow(new Error('worker stopping'));
    expect(jest.getTimerCount()).toBe(0);
    // Its end, seen later, is kept for the run that picks the plan up again.
    t.completed('a', { outcome: 'skipped' });
    const again = t.tracker.wait(['a'], onSettled, { abortSignal: stop.signal });
    expect(seen).toStrictEqual(['skipped']);
    await expect(again).resolves.toStrictEqual({ succeeded: 0, skipped: 1, failed: 0 });
  });

  it('says "aborted" when the abort reason is not an error', async () => {
    const t = standIn();
    const shutdown = new AbortController();
    const wait = t.tracker.wait(['a'], onSettled, { abortSignal: shutdown.signal });
    shutdown.abort('SIGTERM');
    await expect(wait).rejects.toThrow(new Error('aborted'));
  });

  it('does not start waiting on a signal already aborted', async () => {
    const t = standIn();
    const reason = new Error('already stopping');
    await expect(t.tracker.wait(['a'], onSettled, { abortSignal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('lets go of the signal once the jobs are done', async () => {
    const t = standIn();
    const signal = new AbortController().signal;
    const wait = t.tracker.wait(['a'], onSettled, { abortSignal: signal });
    expect(getEventListeners(signal, 'abort')).toHaveLength(1);
    t.completed('a');
    await wait;
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });

  it('serves several waits at once, each with its own jobs', async () => {
    const t = standIn();
    const first: Outcome[] = [];
    const second: Outcome[] = [];
    const one = t.tracker.wait(['a', 'b'], (o) => void first.push(o), { abortSignal: stop.signal });
    const two = t.tracker.wait(['c'], (o) => void second.push(o), { abortSignal: stop.signal });
    t.completed('c', { outcome: 'skipped' });
    t.completed('a');
    t.completed('b');
    await expect(two).resolves.toStrictEqual({ succeeded: 0, skipped: 1, failed: 0 });
    await expect(one).resolves.toStrictEqual({ succeeded: 2, skipped: 0, failed: 0 });
    expect([first, second]).toStrictEqual([['succeeded', 'succeeded'], ['skipped']]);
  });

  it('stops listening to the queue when closed', async () => {
    const t = standIn();
    expect([t.events.listenerCount('completed'), t.events.listenerCount('failed')]).toStrictEqual([1, 1]);
    t.tracker.close();
    expect([t.events.listenerCount('completed'), t.events.listenerCount('failed')]).toStrictEqual([0, 0]);
  });

  it('remembers at most 50,000 early outcomes, forgetting the oldest first', async () => {
    const t = standIn();
    for (let i = 0; i <= 50_000; i++) t.completed(`e${i}`);
    const newest = t.tracker.wait(['e1', 'e50000'], onSettled, { abortSignal: stop.signal });
    expect(seen).toStrictEqual(['succeeded', 'succeeded']);
    await newest;
    void t.tracker.wait(['e0'], onSettled, { abortSignal: stop.signal }).catch(() => undefined);
    expect(seen).toHaveLength(2);
  });
});

describe('JobTracker, on a real queue', () => {
  let redis: Redis;
  let blocking: Redis;
  let prefix: string;
  let queue: Queue;
  let events: QueueEvents;
  let worker: Worker;
  let workerConnection: Redis;
  let tracker: JobTracker;

  beforeAll(() => {
    redis = workerRedis();
  });
  afterAll(async () => {
    await redis.quit();
  });
  beforeEach(async () => {
    prefix = uniquePrefix('tracker');
    queue = new Queue('crowd', { connection: redis, prefix });
    blocking = redis.duplicate();
    events = await queueEventsFromNow(queue, redis, blocking);
    tracker = new JobTracker(queue, events);
    // Each job's data says how its attempts go: how many fail before one returns `result`.
    worker = new Worker('crowd', async (job) => {
      if (job.attemptsMade < (job.data.failures as number)) throw new Error('remote down');
      return job.data.result as unknown;
    }, { connection: (workerConnection = redis.duplicate()), prefix, autorun: false });
    worker.on('error', () => undefined);
  });
  afterEach(async () => {
    tracker.close();
    await worker.close();
    workerConnection.disconnect();
    await events.close();
    blocking.disconnect();
    await queue.close();
    await deletePrefix(redis, prefix);
  });

  const add = async (id: string, data: { failures: number; result?: unknown }, attempts = 1) => (await queue.add('push-user', data, { jobId: id, attempts, backoff: 0 })).id!;

  it('counts completed, skipped and finally failed jobs from the queue events, not failed attempts', async () => {
    const ids = [
      await add('ok', { failures: 0, result: { outcome: 'updated' } }),
      await add('skip', { failures: 0, result: { outcome: 'skipped' } }),
      await add('flaky', { failures: 1, result: { outcome: 'created' } }, 2),
      await add('dead', { failures: 2 }, 2),
    ];
    const seen: Outcome[] = [];
    const wait = tracker.wait(ids, (o) => void seen.push(o), { checkEveryMs: 60_000 });
    worker.run().catch(() => undefined);
    await expect(wait).resolves.toStrictEqual({ succeeded: 2, skipped: 1, failed: 1 });
    expect(seen.sort()).toStrictEqual(['failed', 'skipped', 'succeeded', 'succeeded']);
  });

  it('reads the end of jobs that finished before the tracker listened, and of removed jobs, from the queue', async () => {
    const late = await add('late', { failures: 0, result: { outcome: 'skipped' } });
    const lost = await add('lost', { failures: 1 });
    const removed = await add('removed', { failures: 0 });
    await queue.remove(removed);
    const finished = new Promise<void>((r) => {
      let n = 0;
      worker.on('completed', () => ++n === 1 || r());
      worker.on('failed', () => ++n === 1 || r());
    });
    worker.run().catch(() => undefined);
    await finished;
    // A tracker that starts listening only now saw neither job end.
    tracker.close();
    const lateBlocking = redis.duplicate();
    const lateEvents = await queueEventsFromNow(queue, redis, lateBlocking);
    const fresh = new JobTracker(queue, lateEvents);
    try {
      await expect(fresh.wait([late, lost, removed], () => undefined, { checkEveryMs: 20 })).resolves.toStrictEqual({ succeeded: 0, skipped: 2, failed: 1 });
    } finally {
      fresh.close();
      await lateEvents.close();
      lateBlocking.disconnect();
    }
  });
});
