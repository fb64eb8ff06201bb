import { createServer, type Server } from 'node:http';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { TargetWorker } from './target-worker.js';

/**
 * `/healthz`: the process is alive and its event loop answers.
 * `/readyz`: Redis answers and every target worker is running (503 otherwise); the
 *   body also reports each target's quarantine so operators see why work is paused.
 * `/metrics`: Prometheus text format.
 */
export function startHealthServer(options: { port: number; host?: string; redis: Redis; workers: readonly TargetWorker[]; registry: Registry }): Promise<Server> {
  const server = createServer(async (req, res) => {
    const send = (status: number, body: unknown, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    try {
      if (req.url === '/healthz') return send(200, { status: 'ok' });
      if (req.url === '/readyz') {
        const redisOk = await Promise.race([
          options.redis.ping().then(() => true, () => false),
          new Promise<boolean>((r) => setTimeout(() => r(false), 1000).unref()),
        ]);
        const targets: Record<string, unknown> = {};
        let allRunning = true;
        for (const w of options.workers) {
          const running = w.isRunning();
          allRunning &&= running;
          targets[w.target] = { running, quarantine: redisOk ? (await w.quarantine.state()) ?? null : 'unknown' };
        }
        // Not ready while Redis is down, or while every target this process runs is quarantined:
        // a load balancer or orchestrator should then look elsewhere.
        const states = Object.values(targets) as { quarantine: unknown }[];
        const allQuarantined = states.length > 0 && states.every((t) => t.quarantine !== null && t.quarantine !== 'unknown');
        const ready = redisOk && allRunning && !allQuarantined;
        return send(ready ? 200 : 503, { status: ready ? 'ready' : 'not-ready', redis: redisOk ? 'ok' : 'unreachable', targets });
      }
      if (req.url === '/metrics') return send(200, await options.registry.metrics(), options.registry.contentType);
      send(404, { error: 'not found' });
    } catch (err) {
      send(500, { error: (err as Error).message });
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      // Most often a second idsync on the same machine: name the setting that moves it.
      if (err.code === 'EADDRINUSE') reject(new Error(`IDSYNC_HEALTH_PORT: port ${options.port} is already in use (another idsync running?); set IDSYNC_HEALTH_PORT to a free port, or 0 for any`));
      else reject(err);
    });
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve(server));
  });
}
