// Waiting out Graph's eventual consistency: a step that meets a just-created user invisible
// is tried again after a pause, a bounded number of times, then left to the job's retry.
// Timers are faked, so the pauses are checked to the millisecond without taking any time.
import { jest } from '@jest/globals';
import { TransientError } from '../../../shared/errors.js';
import { Consistency, INVISIBLE } from '../../../workers/entra/consistency.js';

/** [class, message, code, status] of a rejection. */
async function failure(p: Promise<unknown>): Promise<unknown[]> {
  try {
    await p;
  } catch (err) {
    const e = err as TransientError;
    return [e.constructor.name, e.message, e.code, e.status];
  }
  return ['resolved'];
}

/** A step answering from the list (INVISIBLE for each try beyond it), counting its tries. */
function steps<T>(...answers: (T | typeof INVISIBLE)[]) {
  const s = {
    tries: 0,
    run: async (): Promise<T | typeof INVISIBLE> => {
      const i = s.tries++;
      return i < answers.length ? answers[i]! : INVISIBLE;
    },
  };
  return s;
}

/** Settles the promise's state into a readable value without awaiting it. */
function watch<T>(p: Promise<T>) {
  const w: { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } = { state: 'pending' };
  p.then(
    (value) => Object.assign(w, { state: 'resolved', value }),
    (error: unknown) => Object.assign(w, { state: 'rejected', error }),
  );
  return w;
}

const notVisible = (tries: number) => [
  'TransientError',
  `Entra user alice@contoso.com is not visible yet after ${tries} tries (Graph is eventually consistent after a create or restore)`,
  'NOT_VISIBLE_YET',
  404,
];

describe('Consistency.whileInvisible', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('answers the first result at once, without a pause', async () => {
    const s = steps('found');
    expect(await new Consistency().whileInvisible(s.run, 'alice@contoso.com')).toBe('found');
    expect(s.tries).toBe(1);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('takes any result but INVISIBLE as an answer, falsy ones included', async () => {
    for (const answer of [null, false, 0, '']) {
      expect(await new Consistency().whileInvisible(steps(answer).run, 'alice@contoso.com')).toBe(answer);
    }
  });

  it('tries again after 500 ms by default, up to 5 tries', async () => {
    const s = steps<string>();
    const w = watch(new Consistency().whileInvisible(s.run, 'alice@contoso.com'));
    await jest.advanceTimersByTimeAsync(0);
    expect(s.tries).toBe(1);
    for (let tried = 2; tried <= 5; tried++) {
      await jest.advanceTimersByTimeAsync(499);
      expect(s.tries).toBe(tried - 1);
      await jest.advanceTimersByTimeAsync(1);
      expect(s.tries).toBe(tried);
    }
    // No pause after the last try: the job's retry takes over at once.
    expect(w.state).toBe('rejected');
    expect(await failure(Promise.reject(w.error))).toEqual(notVisible(5));
    expect(jest.getTimerCount()).toBe(0);
  });

  it('answers the result of a later try', async () => {
    const s = steps(INVISIBLE, INVISIBLE, 'found');
    const w = watch(new Consistency({ delayMs: 10 }).whileInvisible(s.run, 'alice@contoso.com'));
    await jest.advanceTimersByTimeAsync(20);
    expect(w).toEqual({ state: 'resolved', value: 'found' });
    expect(s.tries).toBe(3);
  });

  it('honours the configured number of tries and pause', async () => {
    const s = steps<string>();
    const w = watch(new Consistency({ attempts: 3, delayMs: 40 }).whileInvisible(s.run, 'alice@contoso.com'));
    await jest.advanceTimersByTimeAsync(79);
    expect([s.tries, w.state]).toEqual([2, 'pending']);
    await jest.advanceTimersByTimeAsync(1);
    expect([s.tries, w.state]).toEqual([3, 'rejected']);
    expect(await failure(Promise.reject(w.error))).toEqual(notVisible(3));
  });

  it('tries at least once, whatever the configuration says', async () => {
    for (const attempts of [0, -2, 1]) {
      const s = steps<string>();
      expect(await failure(new Consistency({ attempts, delayMs: 10 }).whileInvisible(s.run, 'alice@contoso.com'))).toEqual(notVisible(1));
      expect(s.tries).toBe(1);
    }
  });

  it('pauses not at all with a zero delay', async () => {
    const s = steps(INVISIBLE, 'found');
    const w = watch(new Consistency({ delayMs: 0 }).whileInvisible(s.run, 'alice@contoso.com'));
    await jest.advanceTimersByTimeAsync(0);
    expect(w).toEqual({ state: 'resolved', value: 'found' });
  });

  it('passes a failing step on untouched, without trying again', async () => {
    let tries = 0;
    const boom = new Error('boom');
    await expect(
      new Consistency().whileInvisible(async () => {
        tries++;
        throw boom;
      }, 'alice@contoso.com'),
    ).rejects.toBe(boom);
    expect(tries).toBe(1);
  });

  it('stops pausing when aborted, with the abort reason', async () => {
    const controller = new AbortController();
    const s = steps<string>();
    const w = watch(new Consistency().whileInvisible(s.run, 'alice@contoso.com', controller.signal));
    await jest.advanceTimersByTimeAsync(100);
    const reason = new Error('shutdown');
    controller.abort(reason);
    await jest.advanceTimersByTimeAsync(0);
    expect(w).toEqual({ state: 'rejected', error: reason });
    expect(s.tries).toBe(1);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('does not pause on a signal aborted already', async () => {
    const controller = new AbortController();
    const reason = new Error('shutdown');
    controller.abort(reason);
    const s = steps<string>();
    await expect(new Consistency().whileInvisible(s.run, 'alice@contoso.com', controller.signal)).rejects.toBe(reason);
    expect(s.tries).toBe(1);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('listens for the abort only during each pause', async () => {
    const signal = new AbortController().signal;
    const added = jest.spyOn(signal, 'addEventListener');
    const removed = jest.spyOn(signal, 'removeEventListener');
    const s = steps(INVISIBLE, INVISIBLE, 'found');
    const w = watch(new Consistency({ delayMs: 10 }).whileInvisible(s.run, 'alice@contoso.com', signal));
    await jest.advanceTimersByTimeAsync(20);
    expect(w.state).toBe('resolved');
    expect(added.mock.calls).toEqual([
      ['abort', expect.any(Function), { once: true }],
      ['abort', expect.any(Function), { once: true }],
    ]);
    expect(removed.mock.calls).toEqual([
      ['abort', added.mock.calls[0]![1]],
      ['abort', added.mock.calls[1]![1]],
    ]);
  });
});
