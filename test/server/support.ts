import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { loadConfig, type Env } from '../../shared/config.js';
import { QUEUES, type QueueName } from '../../shared/jobs.js';
import { startHttpServer, type HttpServer } from '../../server/index.js';
import { signIngestRequest } from '../../server/auth.js';
import { TEST_KEY } from '../helpers/harness.js';
import { capturingLogger } from '../helpers/logs.js';
import { REDIS_URL, deletePrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';

export const TOKEN = 'test-ingest-token-0123456789abcdef';
export const SECRET = 'test-ingest-secret-0123456789abcdef';

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

export interface RequestOptions {
  /** A JSON value (sent as JSON), or a string / bytes sent as they are. */
  body?: unknown;
  headers?: Record<string, string>;
  /** @defaultValue 'bearer' */
  auth?: 'bearer' | 'signed' | 'none';
}

export interface TestServer {
  prefix: string;
  /** A connection of the test's own to the shared Redis, for reading back. */
  redis: Redis;
  server: HttpServer;
  logs: string[];
  request(method: string, path: string, options?: RequestOptions): Promise<Answer>;
  /** Every job on the queue under the test's prefix, whatever its state. */
  jobs(queue: QueueName): Promise<Job[]>;
  close(): Promise<void>;
}

/**
 * The HTTP server on a free port against the real Redis, under a unique prefix (deleted on
 * close), with crowd and entra configured (never contacted: no worker runs) and both
 * credentials set. `env` overrides the configuration (undefined unsets a variable).
 */
export async function startTestServer(options: { env?: Env; connection?: Redis } = {}): Promise<TestServer> {
  const prefix = uniquePrefix('http');
  const config = loadConfig({
    REDIS_URL,
    IDSYNC_PREFIX: prefix,
    IDSYNC_TARGETS: 'crowd,entra',
    CROWD_URL: 'http://127.0.0.1:9',
    CROWD_APP_NAME: 'idsync',
    CROWD_APP_PASSWORD: 'unused',
    ENTRA_TENANT_ID: 'contoso.onmicrosoft.com',
    ENTRA_CLIENT_ID: 'client',
    ENTRA_CLIENT_SECRET: 'unused',
    IDSYNC_SECRET_KEY: TEST_KEY,
    IDSYNC_INGEST_TOKEN: TOKEN,
    IDSYNC_INGEST_SECRET: SECRET,
    ...options.env,
  });
  const { logger, lines } = capturingLogger();
  const redis = workerRedis();
  const server = await startHttpServer({ config, logger, port: 0, host: '127.0.0.1', secretKey: TEST_KEY, ...(options.connection && { connection: options.connection }) });
  const queues = new Map<QueueName, Queue>();
  const queue = (name: QueueName) => {
    let q = queues.get(name);
    if (!q) queues.set(name, (q = new Queue(name, { connection: redis, prefix })));
    return q;
  };
  return {
    prefix,
    redis,
    server,
    logs: lines,
    request: (method, path, o) => send(server.url, method, path, o),
    jobs: (name) => queue(QUEUES[name]).getJobs(['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed']),
    async close() {
      await server.close();
      await Promise.all([...queues.values()].map((q) => q.close()));
      await deletePrefix(redis, prefix);
      await redis.quit();
    },
  };
}

export async function send(url: string, method: string, path: string, options: RequestOptions = {}): Promise<Answer> {
  const { body } = options;
  const raw = body === undefined ? undefined : typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
  const headers: Record<string, string> = { ...(raw !== undefined && { 'content-type': 'application/json' }) };
  const auth = options.auth ?? 'bearer';
  if (auth === 'bearer') headers.authorization = `Bearer ${TOKEN}`;
  if (auth === 'signed') Object.assign(headers, signIngestRequest({ secret: SECRET, body: raw === undefined ? '' : Buffer.from(raw) }));
  Object.assign(headers, options.headers);
  const res = await fetch(`${url}${path}`, { method, headers, ...(raw !== undefined && { body: raw }) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

export const alice = { username: 'alice', email: 'alice@example.com' };
