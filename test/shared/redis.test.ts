// Redis connections (shared/redis.ts): the options each role gets on a server and on a cluster
// (clusters built lazily, never connected: their options are what is checked), second connections,
// readiness waits (an event-emitter stand-in for the connection, fake timers for the timeout), and
// SCAN/UNLINK over a prefix: against the real Redis under a unique prefix for one server, and
// against stand-in masters for a cluster.
import { EventEmitter } from 'node:events';
import { jest } from '@jest/globals';
import { Cluster, Redis } from 'ioredis';
import { deletePrefix, isCluster, masters, scanPrefix, sibling, createRedis, whenReady } from '../../shared/redis.js';
import { collect } from '../helpers/collect.js';
import { REDIS_URL, uniquePrefix, workerRedis } from '../helpers/redis.js';

const opened: (Redis | Cluster)[] = [];
afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
  for (const c of opened.splice(0)) c.disconnect();
});
/** Keeps a connection for closing after the test. */
function track<T extends Redis | Cluster>(c: T): T {
  opened.push(c);
  return c;
}
const clusterOf = (r: Redis) => r as unknown as Cluster;
/** The seed nodes a cluster was given (private in ioredis' types). */
const seeds = (c: Cluster) => (c as unknown as { startupNodes: unknown }).startupNodes;

/** [class name, message] of a rejection; undefined when it resolved. */
const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: Error) => [e.name, e.message]);

describe('createRedis on one server', () => {
  it('gives a producer no offline queue and one retry, on the server, port and database of the URL', () => {
    const r = track(createRedis('redis://127.0.0.1:6390/3', 'producer', { lazyConnect: true }));
    expect(isCluster(r)).toBe(false);
    expect(r.options).toMatchObject({ host: '127.0.0.1', port: 6390, db: 3, enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true });
  });

  it('gives a worker the offline queue and unlimited retries, as BullMQ requires', () => {
    const r = track(createRedis('redis://127.0.0.1:6390', 'worker', { lazyConnect: true }));
    expect(r.options).toMatchObject({ enableOfflineQueue: true, maxRetriesPerRequest: null });
  });

  it('lets the extra options win over the role', () => {
    const r = track(createRedis('redis://127.0.0.1:6390', 'producer', { lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: 5 }));
    expect(r.options).toMatchObject({ enableOfflineQueue: true, maxRetriesPerRequest: 5 });
  });

  it('fails a producer command at once while not connected, instead of queueing it', async () => {
    const r = track(createRedis('redis://127.0.0.1:6390', 'producer', { lazyConnect: true }));
    await expect(r.get('k')).rejects.toThrow("Stream isn't writeable and enableOfflineQueue options is false");
  });

  it('talks to the real Redis', async () => {
    const r = track(createRedis(REDIS_URL, 'producer'));
    await whenReady(r);
    expect(await r.ping()).toBe('PONG');
  });
});

describe('createRedis on a cluster', () => {
  it('builds a cluster from the seed nodes with the credentials, TLS and the producer role', () => {
    const r = track(createRedis('rediss+cluster://svc:p%40ss@10.0.0.1:7000,10.0.0.2:7001', 'producer', { lazyConnect: true, connectTimeout: 1234 }));
    const c = clusterOf(r);
    expect(isCluster(r)).toBe(true);
    expect(r).toBeInstanceOf(Cluster);
    expect(seeds(c)).toEqual([{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }]);
    expect(c.options.enableOfflineQueue).toBe(false);
    expect(c.options.lazyConnect).toBe(true);
    expect(c.options.redisOptions).toStrictEqual({ username: 'svc', password: 'p@ss', tls: {}, connectTimeout: 1234, maxRetriesPerRequest: 1 });
  });

  it('gives a worker cluster the offline queue and unlimited retries per node, without TLS or credentials unless asked', () => {
    const c = clusterOf(track(createRedis('redis+cluster://10.0.0.1:7000', 'worker', { lazyConnect: true })));
    expect(c.options.enableOfflineQueue).toBe(true);
    expect(c.options.redisOptions).toStrictEqual({ username: undefined, password: undefined, maxRetriesPerRequest: null });
  });

  it("keeps the server-only options out of every node's connection, and the cluster's own ones at cluster level", () => {
    const c = clusterOf(track(createRedis('redis+cluster://10.0.0.1:7000', 'producer', {
      lazyConnect: true, enableOfflineQueue: true, host: 'elsewhere', port: 1, path: '/tmp/redis.sock',
      retryStrategy: () => 1, readOnly: true, sentinels: [{ host: 's', port: 26379 }], keyPrefix: 'kp:', db: 0,
    })));
    expect(c.options.enableOfflineQueue).toBe(true);
    expect(c.options.lazyConnect).toBe(true);
    expect(c.options.redisOptions).toStrictEqual({ username: undefined, password: undefined, keyPrefix: 'kp:', db: 0, maxRetriesPerRequest: 1 });
  });

  it("lets the extra retry limit win over the role's, null included", () => {
    const producer = clusterOf(track(createRedis('redis+cluster://10.0.0.1:7000', 'producer', { lazyConnect: true, maxRetriesPerRequest: null })));
    expect(producer.options.redisOptions!.maxRetriesPerRequest).toBeNull();
    const worker = clusterOf(track(createRedis('redis+cluster://10.0.0.1:7000', 'worker', { lazyConnect: true, maxRetriesPerRequest: 3 })));
    expect(worker.options.redisOptions!.maxRetriesPerRequest).toBe(3);
  });
});

describe('sibling', () => {
  it('opens a second server connection with the same address in the other role', () => {
    const producer = track(createRedis('redis://127.0.0.1:6390/2', 'producer', { lazyConnect: true }));
    const worker = track(sibling(producer, 'worker'));
    expect(worker).not.toBe(producer);
    expect(worker.options).toMatchObject({ port: 6390, db: 2, lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: null });
    const back = track(sibling(worker, 'producer', { connectionName: 'second' }));
    expect(back.options).toMatchObject({ port: 6390, db: 2, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectionName: 'second' });
    const overridden = track(sibling(worker, 'producer', { maxRetriesPerRequest: 7 }));
    expect(overridden.options.maxRetriesPerRequest).toBe(7);
  });

  it('opens a second cluster on the same seed nodes and credentials, the role applied anew', () => {
    const producer = track(createRedis('redis+cluster://svc:pw@10.0.0.1:7000', 'producer', { lazyConnect: true }));
    const worker = clusterOf(track(sibling(producer, 'worker', { connectTimeout: 99 })));
    expect(isCluster(worker as unknown as Redis)).toBe(true);
    expect(worker).not.toBe(clusterOf(producer));
    expect(seeds(worker)).toEqual([{ host: '10.0.0.1', port: 7000 }]);
    // lazyConnect was not given again: the first cluster's is kept.
    expect(worker.options.lazyConnect).toBe(true);
    expect(worker.options.enableOfflineQueue).toBe(true);
    expect(worker.options.redisOptions).toStrictEqual({ username: 'svc', password: 'pw', connectTimeout: 99, maxRetriesPerRequest: null });
    const back = clusterOf(track(sibling(worker as unknown as Redis, 'producer')));
    expect(back.options.enableOfflineQueue).toBe(false);
    expect(back.options.redisOptions!.maxRetriesPerRequest).toBe(1);
  });
});

describe('isCluster and masters', () => {
  it('tells a cluster by its isCluster flag being exactly true', () => {
    expect(isCluster(track(new Redis({ lazyConnect: true })))).toBe(false);
    expect(isCluster({ isCluster: true } as unknown as Redis)).toBe(true);
    expect(isCluster({ isCluster: 'true' } as unknown as Redis)).toBe(false);
    expect(isCluster({} as unknown as Redis)).toBe(false);
  });

  it("are the server itself, or the cluster's masters", () => {
    const server = track(new Redis({ lazyConnect: true }));
    expect(masters(server)).toEqual([server]);
    const asked: string[] = [];
    const nodes = [{ name: 'm1' }, { name: 'm2' }];
    const cluster = { isCluster: true, nodes: (role: string) => { asked.push(role); return nodes; } } as unknown as Redis;
    expect(masters(cluster)).toBe(nodes);
    expect(asked).toEqual(['master']);
  });
});

describe('whenReady', () => {
  /** A connection stand-in: a status and the events ioredis emits. */
  const connection = (status: string) => Object.assign(new EventEmitter(), { status }) as EventEmitter & { status: string };
  const listening = (c: EventEmitter) => ['ready', 'end', 'error'].map((e) => c.listenerCount(e));
  const asRedis = (c: EventEmitter) => c as unknown as Redis;
  const fakeTimers = () => jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate', 'clearImmediate'] });
  const flush = () => new Promise<void>((r) => setImmediate(r));
  /** Whether the promise has settled yet, without waiting for it. */
  const settled = async (p: Promise<unknown>) => {
    let done = false;
    p.then(() => { done = true; }, () => { done = true; });
    await flush();
    return done;
  };

  it('resolves at once on a ready connection, listening to nothing', async () => {
    const c = connection('ready');
    const p = whenReady(asRedis(c));
    expect(listening(c)).toEqual([0, 0, 0]);
    await expect(p).resolves.toBeUndefined();
  });

  it('refuses at once a connection closed for good', async () => {
    // Faked, so a wait that should not have started leaves no real timer behind.
    fakeTimers();
    const c = connection('end');
    const outcome = failure(whenReady(asRedis(c)));
    expect(listening(c)).toEqual([0, 0, 0]);
    expect(jest.getTimerCount()).toBe(0);
    expect(await outcome).toEqual(['RedisUnavailableError', 'Redis is unreachable: the connection is closed']);
  });

  it('waits for the ready event, then stops listening and drops its timer', async () => {
    fakeTimers();
    const c = connection('connecting');
    const p = whenReady(asRedis(c));
    expect(listening(c)).toEqual([1, 1, 1]);
    expect(await settled(p)).toBe(false);
    c.emit('ready');
    await expect(p).resolves.toBeUndefined();
    expect(listening(c)).toEqual([0, 0, 0]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('fails when the connection ends before it is ready', async () => {
    fakeTimers();
    const c = connection('reconnecting');
    const p = whenReady(asRedis(c));
    c.emit('end');
    expect(await failure(p)).toEqual(['RedisUnavailableError', 'Redis is unreachable: the connection closed before it became ready']);
    expect(listening(c)).toEqual([0, 0, 0]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('waits through connection errors by default', async () => {
    fakeTimers();
    const c = connection('connecting');
    const p = whenReady(asRedis(c));
    c.emit('error', new Error('connect ECONNREFUSED'));
    expect(await settled(p)).toBe(false);
    expect(listening(c)).toEqual([1, 1, 1]);
    c.emit('ready');
    await expect(p).resolves.toBeUndefined();
  });

  it('fails on the first connection error when asked to, keeping it as the cause', async () => {
    fakeTimers();
    const c = connection('connecting');
    const err = new Error('connect ECONNREFUSED 127.0.0.1:6390');
    const p = whenReady(asRedis(c), { failOnError: true });
    c.emit('error', err);
    const rejected = await p.then(() => undefined, (e: Error) => e);
    expect([rejected?.name, rejected?.message, rejected?.cause]).toEqual(['RedisUnavailableError', 'Redis is unreachable: connect ECONNREFUSED 127.0.0.1:6390', err]);
    expect(listening(c)).toEqual([0, 0, 0]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('gives up after 10 s by default, or the time asked', async () => {
    fakeTimers();
    const c = connection('connecting');
    const p = whenReady(asRedis(c));
    jest.advanceTimersByTime(9999);
    expect(await settled(p)).toBe(false);
    jest.advanceTimersByTime(1);
    expect(await failure(p)).toEqual(['RedisUnavailableError', 'Redis is unreachable: not ready within 10000 ms']);
    expect(listening(c)).toEqual([0, 0, 0]);
    const q = whenReady(asRedis(c), { timeoutMs: 250 });
    jest.advanceTimersByTime(249);
    expect(await settled(q)).toBe(false);
    jest.advanceTimersByTime(1);
    expect(await failure(q)).toEqual(['RedisUnavailableError', 'Redis is unreachable: not ready within 250 ms']);
  });

  it('follows a real connection from connecting to ready, and refuses it once quit', async () => {
    const r = track(createRedis(REDIS_URL, 'worker'));
    await whenReady(r, { timeoutMs: 5000, failOnError: true });
    expect(r.status).toBe('ready');
    const ended = new Promise((resolve) => r.once('end', resolve));
    await r.quit();
    await ended;
    // A short timeout only so a wrong wait fails fast; a closed connection is refused before it.
    expect(await failure(whenReady(r, { timeoutMs: 500 }))).toEqual(['RedisUnavailableError', 'Redis is unreachable: the connection is closed']);
  });
});

describe('scanPrefix and deletePrefix on one server', () => {
  let redis: Redis;
  let prefix: string;
  let noise: string;
  beforeAll(() => { redis = workerRedis(); });
  afterAll(() => redis.quit());
  beforeEach(() => {
    prefix = uniquePrefix('scan');
    // Starts like the prefix, but its keys are not `${prefix}:…`.
    noise = `${prefix}x`;
  });
  afterEach(async () => {
    await deletePrefix(redis, prefix);
    await deletePrefix(redis, noise);
  });

  async function fill(count: number, noiseCount: number): Promise<string[]> {
    const keys = Array.from({ length: count }, (_, i) => `${prefix}:k${i}`);
    const pipeline = redis.pipeline();
    for (const k of keys) pipeline.set(k, '1');
    for (let i = 0; i < noiseCount; i++) pipeline.set(`${noise}:n${i}`, '1');
    pipeline.set(prefix, 'the bare prefix is not under it');
    await pipeline.exec();
    return keys;
  }

  it('yields every key under the prefix once, in non-empty SCAN pages of up to 1000, until the cursor comes back', async () => {
    const keys = await fill(40, 4000);
    const scans = jest.spyOn(redis, 'scan');
    const pages = await collect(scanPrefix(redis, prefix));
    expect(pages.flat().sort()).toEqual([...keys].sort());
    expect(pages.every((p) => p.length > 0)).toBe(true);
    const calls = scans.mock.calls as unknown as unknown[][];
    expect(calls.length).toBeGreaterThan(1);
    expect(calls[0]).toEqual(['0', 'MATCH', `${prefix}:*`, 'COUNT', 1000]);
    for (const c of calls.slice(1)) expect([c[0] === '0', c.slice(1)]).toEqual([false, ['MATCH', `${prefix}:*`, 'COUNT', 1000]]);
  });

  it('yields nothing for a prefix without keys', async () => {
    expect(await collect(scanPrefix(redis, prefix))).toEqual([]);
  });

  it('deletes every key under the prefix and nothing beside it', async () => {
    await fill(30, 5);
    const unlinks = jest.spyOn(redis, 'unlink');
    await deletePrefix(redis, prefix);
    expect(await collect(scanPrefix(redis, prefix))).toEqual([]);
    // How SCAN splits the keys into pages depends on everything else in the shared database.
    expect((unlinks.mock.calls as unknown as string[][]).flat()).toHaveLength(30);
    expect(await redis.get(prefix)).toBe('the bare prefix is not under it');
    expect(await redis.exists(`${noise}:n0`, `${noise}:n4`)).toBe(2);
    await redis.del(prefix);
  });
});

describe('scanPrefix and deletePrefix against stand-ins', () => {
  /** Masters that answer SCAN from a script (cursor → reply) and record their calls. */
  function clusterStandIn(scripts: Record<string, [string, string[]]>[]) {
    const scans: unknown[][] = [];
    const unlinks: string[][] = [];
    const nodes = scripts.map((script, n) => ({
      scan: async (...args: unknown[]) => { scans.push([n, ...args]); return script[args[0] as string]!; },
    }));
    const cluster = {
      isCluster: true,
      nodes: () => nodes,
      unlink: async (...keys: string[]) => { unlinks.push(keys); return keys.length; },
    } as unknown as Redis;
    return { cluster, scans, unlinks };
  }

  it('scans every master from cursor 0 until its cursor comes back, skipping empty pages', async () => {
    const { cluster, scans } = clusterStandIn([
      { '0': ['17', ['{p}:a1']], '17': ['33', []], '33': ['0', ['{p}:a2']] },
      { '0': ['0', ['{p}:b1', '{p}:b2']] },
      { '0': ['0', []] },
    ]);
    expect(await collect(scanPrefix(cluster, '{p}'))).toEqual([['{p}:a1'], ['{p}:a2'], ['{p}:b1', '{p}:b2']]);
    expect(scans).toEqual([
      [0, '0', 'MATCH', '{p}:*', 'COUNT', 1000],
      [0, '17', 'MATCH', '{p}:*', 'COUNT', 1000],
      [0, '33', 'MATCH', '{p}:*', 'COUNT', 1000],
      [1, '0', 'MATCH', '{p}:*', 'COUNT', 1000],
      [2, '0', 'MATCH', '{p}:*', 'COUNT', 1000],
    ]);
  });

  it('deletes a page of keys with one UNLINK on one server', async () => {
    const script: Record<string, [string, string[]]> = { '0': ['5', ['p:a', 'p:b']], '5': ['0', ['p:c']] };
    const unlinks: string[][] = [];
    const server = {
      scan: async (cursor: string) => script[cursor]!,
      unlink: async (...keys: string[]) => { unlinks.push(keys); return keys.length; },
    } as unknown as Redis;
    await deletePrefix(server, 'p');
    expect(unlinks).toEqual([['p:a', 'p:b'], ['p:c']]);
  });

  it('deletes key by key on a cluster, since the keys of one page may sit in different slots', async () => {
    const { cluster, unlinks } = clusterStandIn([{ '0': ['0', ['p:a', 'p:b']] }, { '0': ['0', ['p:c']] }]);
    await deletePrefix(cluster, 'p');
    expect(unlinks.sort()).toEqual([['p:a'], ['p:b'], ['p:c']]);
  });
});
