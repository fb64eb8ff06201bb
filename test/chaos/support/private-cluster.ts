import { spawn, spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { waitFor } from '../../helpers/wait.js';
import { freePort, hasRedisServer, startPrivateRedis, type PrivateRedis } from './private-redis.js';

/** True when this machine can start redis-server and create a cluster with redis-cli. */
export const hasRedisCluster = hasRedisServer && spawnSync('redis-cli', ['--version']).status === 0;

export interface PrivateCluster {
  readonly masters: readonly PrivateRedis[];
  /** `redis+cluster://` with every master as a seed node, as REDIS_URL takes it. */
  readonly url: string;
  /** Stops every master and removes their data directories. */
  stop(): Promise<void>;
}

/**
 * A Redis Cluster of the test's own: `masters` redis-servers (no replicas) on free ports, each
 * with its cluster state file in its own directory, joined by `redis-cli --cluster create`.
 * Resolves once every node reports `cluster_state:ok`.
 * @param masters @defaultValue 3 (the fewest redis-cli accepts)
 */
export async function startPrivateCluster(masters = 3): Promise<PrivateCluster> {
  const started = await Promise.allSettled(Array.from({ length: masters }, async () => {
    const port = await freePort();
    return startPrivateRedis({ port, args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`] });
  }));
  const nodes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const stop = async () => void (await Promise.all(nodes.map((n) => n.stop())));
  try {
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    await createCluster(nodes.map((n) => `127.0.0.1:${n.port}`));
    await Promise.all(nodes.map((n) => clusterOk(n.url)));
  } catch (err) {
    await stop();
    throw err;
  }
  return { masters: nodes, url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`, stop };
}

async function createCluster(addresses: string[]): Promise<void> {
  const child = spawn('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-yes'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d));
  child.stderr.on('data', (d: Buffer) => (output += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`redis-cli --cluster create exited with ${code}:\n${output}`);
}

/** The slots spread by gossip: there is no event for it, so CLUSTER INFO is polled. */
async function clusterOk(url: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    await waitFor(async () => /^cluster_state:ok\r?$/m.test(await redis.cluster('INFO')), 20_000);
  } finally {
    redis.disconnect();
  }
}
