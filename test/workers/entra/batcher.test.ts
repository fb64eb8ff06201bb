// The `$batch` writer: batching, per-item retries of refused items, resends of idempotent
// items whose outcome is unknown, and their pauses. Timings are checked against lower bounds
// (a timer never fires early) and, where a mutant would wait far longer, generous upper ones.
import { Redis } from 'ioredis';
import { ConfigurationError, ThrottledError, TransientError } from '../../../shared/errors.js';
import { RequestBudget } from '../../../workers/runtime/request-budget.js';
import { WriteBatcher, type BatchItem, type SendBatch } from '../../../workers/entra/batcher.js';
import type { RawReply } from '../../../workers/entra/errors.js';
import { REDIS_URL, deletePrefix, uniquePrefix } from '../../helpers/redis.js';

describe('WriteBatcher', () => {
  let redis: Redis;
  let prefix: string;
  beforeAll(() => {
    redis = new Redis(REDIS_URL);
    prefix = uniquePrefix('entra-batcher');
  });
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
  });
  const budget = () => new RequestBudget(redis, `${prefix}:budget:${Math.random()}`, { perSecond: 10_000 });
  /** A budget that says when an item got through it, and so into the open batch (once pending callbacks ran). */
  const watchedBudget = () => {
    let passed!: () => void;
    const through = new Promise<void>((resolve) => (passed = resolve));
    class Watched extends RequestBudget {
      override async take(cost?: number, abortSignal?: AbortSignal): Promise<void> {
        await super.take(cost, abortSignal);
        passed();
      }
    }
    const inBatch = through.then(() => new Promise((resolve) => setImmediate(resolve)));
    return { budget: new Watched(redis, `${prefix}:budget:${Math.random()}`, { perSecond: 10_000 }), inBatch };
  };
  const ok = (status = 204): RawReply => ({ status, headers: {}, text: '', contentType: '', json: undefined, malformed: false });
  const item = (n: number): BatchItem => ({ method: 'PATCH', url: `/users/${n}`, body: { n } });

  it('coalesces concurrent writes into batches of at most 20 and answers each caller with its own item', async () => {
    const sent: number[] = [];
    const batcher = new WriteBatcher(async (items) => {
      sent.push(items.length);
      return items.map((it) => ok(200 + Number(it.url.split('/')[2]) % 2));
    }, budget(), { lingerMs: 20 });
    const replies = await Promise.all(Array.from({ length: 45 }, (_, i) => batcher.submit(item(i))));
    expect(replies.map((r) => r.status)).toEqual(Array.from({ length: 45 }, (_, i) => 200 + (i % 2)));
    expect(sent.reduce((a, b) => a + b, 0)).toBe(45);
    expect(Math.max(...sent)).toBe(20);
    expect(sent.length).toBeLessThanOrEqual(4);
    batcher.close();
  });

  it('retries a throttled item after its own Retry-After, a bounded number of times', async () => {
    const at: Record<string, number[]> = {};
    const started = Date.now();
    const batcher = new WriteBatcher(async (items) => items.map((it) => {
      (at[it.url] ??= []).push(Date.now() - started);
      // Item 1 is throttled twice for 0.15 s, item 2 once for 0.05 s, item 3 always.
      const n = at[it.url]!.length;
      if (it.url === '/users/1' && n <= 2) return { ...ok(429), headers: { 'Retry-After': '0.15' } };
      if (it.url === '/users/2' && n <= 1) return { ...ok(429), headers: { 'Retry-After': '0.05' } };
      if (it.url === '/users/3') return { ...ok(429), headers: { 'Retry-After': '0.01' } };
      return ok();
    }), budget(), { lingerMs: 1, throttleRetries: 3 });
    const [one, two, three] = await Promise.all([1, 2, 3].map((n) => batcher.submit(item(n))));
    expect([one!.status, two!.status, three!.status]).toEqual([204, 204, 429]);
    expect(at['/users/1']).toHaveLength(3);
    expect(at['/users/1']![1]! - at['/users/1']![0]!).toBeGreaterThanOrEqual(140);
    expect(at['/users/2']![1]! - at['/users/2']![0]!).toBeGreaterThanOrEqual(45);
    expect(at['/users/2']![1]! - at['/users/2']![0]!).toBeLessThan(140);
    expect(at['/users/3']).toHaveLength(4);
    batcher.close();
  });

  it('sends an idempotent item again after a failure that may have applied it; anything else goes back to its caller', async () => {
    const sends: Record<string, number> = {};
    let batches = 0;
    const batcher = new WriteBatcher(async (items) => {
      for (const it of items) sends[`${it.method} ${it.url}`] = (sends[`${it.method} ${it.url}`] ?? 0) + 1;
      // The first whole `$batch` times out (its items may have landed); later ones answer per item.
      if (++batches === 1) throw new TransientError('Graph did not answer POST /$batch within 200 ms', { code: 'ETIMEDOUT' });
      return items.map((it) => {
        const n = sends[`${it.method} ${it.url}`]!;
        // /users/4 answers 500 every time; /users/5 answers 502 once; the rest succeed.
        if (it.url === '/users/4' || (it.url === '/users/5' && n === 2)) return { ...ok(it.url === '/users/4' ? 500 : 502) };
        return ok(it.method === 'POST' ? 201 : 204);
      });
    }, budget(), { lingerMs: 5, resendRetries: 3, resendRetryBaseMs: 2 });
    const create: BatchItem = { method: 'POST', url: '/users', body: {} };
    const restore: BatchItem = { method: 'POST', url: '/directory/deletedItems/1/restore' };
    const replies = await Promise.allSettled([
      batcher.submit(item(1), { idempotent: true }),
      batcher.submit(create, { idempotent: true }),
      batcher.submit(restore),
      batcher.submit(item(4), { idempotent: true }),
      batcher.submit(item(5), { idempotent: true }),
    ]);
    expect(replies.map((r) => (r.status === 'fulfilled' ? r.value.status : (r.reason as Error).message))).toEqual([
      204, 201, 'Graph did not answer POST /$batch within 200 ms', 500, 204,
    ]);
    // A repeat of a restore that landed would fail: it went back after its one send. The
    // always-failing item stopped after resendRetries; /users/5 needed one more send.
    expect(sends).toEqual({ 'PATCH /users/1': 2, 'POST /users': 2, 'POST /directory/deletedItems/1/restore': 1, 'PATCH /users/4': 4, 'PATCH /users/5': 3 });
    batcher.close();
  });

  it('does not send an item again when the whole $batch was refused for good', async () => {
    let sent = 0;
    const batcher = new WriteBatcher(async () => {
      sent++;
      throw new ConfigurationError('Graph refused the token');
    }, budget(), { lingerMs: 1, resendRetryBaseMs: 1 });
    await expect(batcher.submit(item(1), { idempotent: true })).rejects.toThrow('Graph refused the token');
    expect(sent).toBe(1);
    batcher.close();
  });

  it('rejects a caller whose signal aborts before its item is sent, without holding back the others', async () => {
    let sent = 0;
    const batcher = new WriteBatcher(async (items) => {
      sent += items.length;
      return items.map(() => ok());
    }, budget(), { lingerMs: 30 });
    const abort = new AbortController();
    const gone = batcher.submit(item(1), { signal: abort.signal });
    const kept = batcher.submit(item(2));
    abort.abort(new Error('shutdown'));
    await expect(gone).rejects.toThrow('shutdown');
    await expect(kept).resolves.toMatchObject({ status: 204 });
    expect(sent).toBe(1);
    batcher.close();
  });

  /** A sender answering each item by `answer(item, n)`, n = the how-manieth send of that item; records when. */
  function recorder(answer: (it: BatchItem, n: number) => RawReply) {
    const at: Record<string, number[]> = {};
    const batches: number[] = [];
    const started = performance.now();
    const send: SendBatch = async (items) => {
      batches.push(items.length);
      return items.map((it) => {
        const times = (at[it.url] ??= []);
        times.push(performance.now() - started);
        return answer(it, times.length);
      });
    };
    const gaps = (url: string) => (at[url] ?? []).slice(1).map((t, i) => t - at[url]![i]!);
    return { send, at, batches, gaps };
  }
  const withHeaders = (status: number, headers: Record<string, string>): RawReply => ({ ...ok(status), headers });

  it('sends a full batch at once, without waiting out the linger, and never more than 20 items', async () => {
    const three = recorder(() => ok());
    const small = new WriteBatcher(three.send, budget(), { maxItems: 3, lingerMs: 60_000 });
    await Promise.all([1, 2, 3].map((n) => small.submit(item(n))));
    expect(three.batches).toEqual([3]);
    const many = recorder(() => ok());
    const capped = new WriteBatcher(many.send, budget(), { maxItems: 50, lingerMs: 20 });
    await Promise.all(Array.from({ length: 25 }, (_, i) => capped.submit(item(i))));
    expect(Math.max(...many.batches)).toBe(20);
    small.close();
    capped.close();
  });

  it('by default: 3 resends of an idempotent item, 3 retries of a refused one, Retry-Afters up to 10 s', async () => {
    const r = recorder((it) => {
      if (it.url === '/users/1') return ok(500);
      if (it.url === '/users/2') return withHeaders(429, { 'Retry-After': '0.01' });
      if (it.url === '/users/3') return withHeaders(429, { 'Retry-After': '11' });
      return withHeaders(502, { 'Retry-After': '11' });
    });
    const batcher = new WriteBatcher(r.send, budget());
    const replies = await Promise.all([1, 2, 3, 4].map((n) => batcher.submit(item(n), { idempotent: true })));
    expect(replies.map((x) => x.status)).toEqual([500, 429, 429, 502]);
    expect([1, 2, 3, 4].map((n) => r.at[`/users/${n}`]!.length)).toEqual([4, 4, 1, 1]);
    batcher.close();
  });

  it('pauses between resends for base × 2^n, halved at the least by the jitter; the item\'s own Retry-After wins, 0 included', async () => {
    const always500 = () => ok(500);
    const least = recorder(always500);
    const most = recorder(always500);
    const low = new WriteBatcher(least.send, budget(), { lingerMs: 0, resendRetryBaseMs: 100 }, () => 0);
    const high = new WriteBatcher(most.send, budget(), { lingerMs: 0, resendRetryBaseMs: 100 }, () => 1);
    await Promise.all([low.submit(item(1), { idempotent: true }), high.submit(item(1), { idempotent: true })]);
    const expected = [100, 200, 400];
    least.gaps('/users/1').forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(expected[i]! / 2 - 5));
    most.gaps('/users/1').forEach((gap, i) => {
      expect(gap).toBeGreaterThanOrEqual(expected[i]! - 5);
      expect(gap).toBeLessThan(expected[i]! * 1.9);
    });
    // A Retry-After on the 5xx is the pause, exactly at the cap too; 0 means now, not the backoff.
    const hinted = recorder((it, n) => (n > 1 ? ok() : withHeaders(it.url === '/users/1' ? 502 : 500, { 'Retry-After': it.url === '/users/1' ? '0.3' : '0' })));
    const slow = new WriteBatcher(hinted.send, budget(), { lingerMs: 0, resendRetryBaseMs: 2000, maxRetryAfterMs: 300 }, () => 1);
    await Promise.all([slow.submit(item(1), { idempotent: true }), slow.submit(item(2), { idempotent: true })]);
    expect(hinted.gaps('/users/1')[0]).toBeGreaterThanOrEqual(295);
    expect(hinted.gaps('/users/2')[0]).toBeLessThan(1000);
    low.close();
    high.close();
    slow.close();
  });

  it('hands a 5xx back at once when its Retry-After is above maxRetryAfterMs', async () => {
    const r = recorder(() => withHeaders(504, { 'Retry-After': '0.301' }));
    const batcher = new WriteBatcher(r.send, budget(), { lingerMs: 0, maxRetryAfterMs: 300 });
    await expect(batcher.submit(item(1), { idempotent: true })).resolves.toMatchObject({ status: 504 });
    expect(r.at['/users/1']).toHaveLength(1);
    batcher.close();
  });

  it('waits 0.1 s after a 503 and 1 s after a 429 that name no Retry-After; a longer one than allowed comes back at once', async () => {
    const r = recorder((it, n) => {
      if (n > 1) return ok();
      if (it.url === '/users/1') return ok(503);
      if (it.url === '/users/2') return ok(429);
      return withHeaders(429, { 'Retry-After': '0.301' });
    });
    const batcher = new WriteBatcher(r.send, budget(), { lingerMs: 0, maxRetryAfterMs: 1000 });
    const capped = new WriteBatcher(r.send, budget(), { lingerMs: 0, maxRetryAfterMs: 300 });
    const replies = await Promise.all([batcher.submit(item(1)), batcher.submit(item(2)), capped.submit(item(3))]);
    expect(replies.map((x) => x.status)).toEqual([204, 204, 429]);
    expect(r.gaps('/users/1')[0]).toBeGreaterThanOrEqual(95);
    expect(r.gaps('/users/1')[0]).toBeLessThan(900);
    expect(r.gaps('/users/2')[0]).toBeGreaterThanOrEqual(995);
    expect(r.at['/users/3']).toHaveLength(1);
    batcher.close();
    capped.close();
  });

  it('treats a whole $batch answered 429 as each item answered so; once retries run out, each caller gets that 429', async () => {
    let calls = 0;
    const once = new WriteBatcher(async (items) => {
      if (++calls === 1) throw new ThrottledError('Graph throttled POST /$batch', { retryAfterMs: 20 });
      return items.map(() => ok());
    }, budget(), { lingerMs: 5 });
    await expect(Promise.all([once.submit(item(1)), once.submit(item(2))])).resolves.toMatchObject([{ status: 204 }, { status: 204 }]);
    const always = new WriteBatcher(async () => {
      throw new ThrottledError('Graph throttled POST /$batch', { retryAfterMs: 20 });
    }, budget(), { lingerMs: 0, throttleRetries: 0 });
    const reply = await always.submit(item(3));
    expect(reply).toEqual({
      status: 429, headers: { 'Retry-After': '0.02' }, contentType: 'application/json', malformed: false,
      json: { error: { code: 'TooManyRequests', message: 'Please retry again later.' } }, text: expect.any(String),
    });
    expect(JSON.parse(reply.text)).toEqual(reply.json);
    once.close();
    always.close();
  });

  it('does not send again a $batch the caller aborted', async () => {
    let sent = 0;
    const batcher = new WriteBatcher(async () => {
      sent++;
      throw new TransientError('aborted while sending POST /$batch', { code: 'ABORTED' });
    }, budget(), { lingerMs: 0, resendRetryBaseMs: 1 });
    await expect(batcher.submit(item(1), { idempotent: true })).rejects.toThrow('aborted while sending');
    expect(sent).toBe(1);
    batcher.close();
  });

  it('on close, rejects queued items and items waiting to be sent again, and takes no new ones', async () => {
    const r = recorder(() => withHeaders(500, { 'Retry-After': '5' }));
    let firstSend!: () => void;
    const sentOnce = new Promise<void>((resolve) => (firstSend = resolve));
    const waiting = new WriteBatcher(async (items) => {
      const replies = await r.send(items);
      firstSend();
      return replies;
    }, budget(), { lingerMs: 0 });
    const started = performance.now();
    const resent = waiting.submit(item(1), { idempotent: true });
    await sentOnce;
    // The reply is handled (the resend set to wait out its 5 s) before close().
    await new Promise((resolve) => setImmediate(resolve));
    waiting.close();
    await expect(resent).rejects.toThrow('the Entra connector was closed');
    expect(r.at['/users/1']).toHaveLength(1);
    // Closed while its `$batch` is in flight: the reply arrives after close(), and is not waited on.
    let answer!: (replies: RawReply[]) => void;
    let sending!: () => void;
    const sent = new Promise<void>((resolve) => (sending = resolve));
    const inFlight = new WriteBatcher(() => {
      sending();
      return new Promise<RawReply[]>((resolve) => (answer = resolve));
    }, budget(), { lingerMs: 0 });
    const late = inFlight.submit(item(4), { idempotent: true });
    await sent;
    inFlight.close();
    answer([withHeaders(500, { 'Retry-After': '5' })]);
    await expect(late).rejects.toThrow('the Entra connector was closed');
    expect(performance.now() - started).toBeLessThan(4000);

    const watched = watchedBudget();
    const queued = new WriteBatcher(r.send, watched.budget, { lingerMs: 60_000 });
    const held = queued.submit(item(2));
    await watched.inBatch;
    queued.close();
    await expect(held).rejects.toThrow('the Entra connector was closed');
    await expect(queued.submit(item(3))).rejects.toThrow('the Entra connector was closed');
    expect(r.at['/users/2']).toBeUndefined();
  });

  it('sends neither an item aborted while its batch was open nor an empty $batch', async () => {
    const r = recorder(() => ok());
    const watched = watchedBudget();
    const batcher = new WriteBatcher(r.send, watched.budget, { lingerMs: 20 });
    const abort = new AbortController();
    const gone = batcher.submit(item(1), { signal: abort.signal });
    // Past the budget and into the open batch, then aborted before the batch goes out.
    await watched.inBatch;
    abort.abort(new Error('shutdown'));
    await expect(gone).rejects.toThrow('shutdown');
    // Waiting out the linger: the batch that goes out empty (or not at all) has no event to await.
    await new Promise((resolve) => setTimeout(resolve, 80));
    await batcher.submit(item(2));
    expect(r.batches).toEqual([1]);
    expect(Object.keys(r.at)).toEqual(['/users/2']);
    // Aborted before it even asked the budget: refused at once, never queued.
    await expect(batcher.submit(item(3), { signal: AbortSignal.abort(new Error('already gone')) })).rejects.toThrow('already gone');
    batcher.close();
  });
});
