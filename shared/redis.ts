import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { isClusterUrl, parseClusterUrl } from './redis-url.js';
import { RedisUnavailableError } from './errors.js';

/**
 * ioredis connections for the two roles BullMQ distinguishes:
 * - `producer` (client library, HTTP ingest): fail fast when Redis is down, so a
 *   caller hears "not enqueued" instead of waiting on an offline queue;
 * - `worker`: `maxRetriesPerRequest: null`, as BullMQ's blocking commands require.
 */
export type RedisRole = 'producer' | 'worker';

const ROLE_OPTIONS: Record<RedisRole, Pick<RedisOptions, 'enableOfflineQueue' | 'maxRetriesPerRequest'>> = {
  producer: { enableOfflineQueue: false, maxRetriesPerRequest: 1 },
  worker: { enableOfflineQueue: true, maxRetriesPerRequest: null },
};

/**
 * A connection for `url`: one server for `redis://` / `rediss://`, an ioredis `Cluster` for
 * `redis+cluster://` / `rediss+cluster://` (see redis-url.ts). The cluster is typed as
 * `Redis` so one type flows through idsync: it answers every keyed command, script and
 * pipeline the same way as long as a command's keys share a hash slot (every idsync key starts
 * with the hash-tagged prefix). The few calls that differ (SCAN, a second connection) go
 * through `isCluster`, `scanPrefix` and `sibling` here.
 */
export function createRedis(url: string, role: RedisRole, extra: RedisOptions = {}): Redis {
  if (!isClusterUrl(url)) {
    const { enableOfflineQueue, maxRetriesPerRequest } = ROLE_OPTIONS[role];
    return new Redis(url, { ...(role === 'producer' ? { enableOfflineQueue } : {}), maxRetriesPerRequest, ...extra });
  }
  const { nodes, username, password, tls } = parseClusterUrl(url);
  return new Cluster(nodes, clusterOptions({ redisOptions: { username, password, ...(tls && { tls: {} }) } }, role, extra)) as unknown as Redis;
}

/** True when `redis` is an ioredis `Cluster` (made by `createRedis` from a cluster URL, or passed in). */
export function isCluster(redis: Redis | Cluster): boolean {
  return (redis as { isCluster?: boolean }).isCluster === true;
}

/** The servers holding data: every master of a cluster (for SCAN, INFO…), else `redis` itself. */
export function masters(redis: Redis): Redis[] {
  return isCluster(redis) ? (redis as unknown as Cluster).nodes('master') : [redis];
}

/**
 * A second connection to the same Redis (server or cluster) in `role`, e.g. a worker
 * connection for BullMQ's blocking reads beside a fail-fast producer connection.
 */
export function sibling(redis: Redis, role: RedisRole, extra: RedisOptions = {}): Redis {
  if (isCluster(redis)) {
    const cluster = redis as unknown as Cluster;
    return cluster.duplicate([], clusterOptions(cluster.options, role, extra)) as unknown as Redis;
  }
  return redis.duplicate({ ...ROLE_OPTIONS[role], ...extra });
}

/** Cluster options for `role`: the offline queue is the cluster's, the rest goes to every node's connection. */
function clusterOptions(base: ClusterOptions, role: RedisRole, extra: RedisOptions): ClusterOptions {
  const { enableOfflineQueue, maxRetriesPerRequest } = ROLE_OPTIONS[role];
  // Each node's connection keeps the offline queue ioredis gives it (a MOVED redirect to a
  // node not yet connected waits for it); only the cluster's own queue follows the role.
  const { lazyConnect, enableOfflineQueue: offline, host: _host, port: _port, path: _path, retryStrategy: _retry, readOnly: _readOnly, sentinels: _sentinels, ...nodeOptions } = extra;
  return {
    ...base,
    // Off for producers: before the cluster is ready a call fails instead of queueing.
    enableOfflineQueue: offline ?? enableOfflineQueue,
    ...(lazyConnect !== undefined && { lazyConnect }),
    redisOptions: { ...base.redisOptions, ...nodeOptions, maxRetriesPerRequest: extra.maxRetriesPerRequest === undefined ? maxRetriesPerRequest : extra.maxRetriesPerRequest },
  };
}

export interface WhenReadyOptions {
  /** @defaultValue 10000 */
  timeoutMs?: number;
  /** Reject on the first connection error instead of waiting for a reconnect. @defaultValue false */
  failOnError?: boolean;
}

/** Resolves once the connection is ready (producers have no offline queue to hide a slow connect). */
export async function whenReady(redis: Redis, options: WhenReadyOptions = {}): Promise<void> {
  if (redis.status === 'ready') return;
  // Closed for good (quit / disconnect): no event will come, so waiting would only time out.
  if (redis.status === 'end') throw new RedisUnavailableError('the connection is closed');
  const timeoutMs = options.timeoutMs ?? 10_000;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => finish(new RedisUnavailableError(`not ready within ${timeoutMs} ms`)), timeoutMs);
    const onReady = () => finish();
    const onEnd = () => finish(new RedisUnavailableError('the connection closed before it became ready'));
    const onError = (err: Error) => options.failOnError && finish(new RedisUnavailableError(err.message, { cause: err }));
    function finish(err?: Error) {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('end', onEnd);
      redis.off('error', onError);
      if (err) reject(err);
      else resolve();
    }
    redis.on('ready', onReady);
    redis.on('end', onEnd);
    redis.on('error', onError);
  });
}

/**
 * Every key under the prefix, a SCAN page at a time (never KEYS: it blocks Redis). On a
 * cluster SCAN covers one node, so every master is scanned.
 */
export async function* scanPrefix(redis: Redis, prefix: string): AsyncIterableIterator<string[]> {
  const nodes = masters(redis);
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) yield keys;
    } while (cursor !== '0');
  }
}

/** Deletes every key under the prefix (UNLINK: freed in the background). */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  for await (const keys of scanPrefix(redis, prefix)) {
    // A multi-key command on a cluster needs one slot; a prefix without a hash tag spreads.
    if (isCluster(redis)) await Promise.all(keys.map((k) => redis.unlink(k)));
    else await redis.unlink(...keys);
  }
}
