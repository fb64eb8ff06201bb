import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleAdmin, type AdminTarget } from './admin.js';
import type { Core } from './core.js';
import { GraphError, errorBody } from './errors.js';
import { handleGraph } from './graph.js';
import type { GraphResponse } from './http.js';
import { handleAuthority } from './token.js';

const MAX_BODY_BYTES = 16 * 1024 * 1024;

export interface TlsMaterial {
  certificatePem: string;
  privateKeyPem: string;
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function headerRecord(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body?: Buffer | string): void {
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.statusCode = status;
  res.end(status === 204 ? undefined : body);
}

function sendGraph(res: ServerResponse, r: GraphResponse): void {
  const body = r.json !== undefined ? JSON.stringify(r.json) : r.binary ?? r.text;
  send(res, r.status, r.headers, body);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One HTTPS listener: authority, Graph under /v1.0 and the admin routes under /_admin. */
export async function serve(core: Core, admin: AdminTarget, tls: TlsMaterial, host: string, port: number): Promise<Server> {
  const server = createServer({ cert: tls.certificatePem, key: tls.privateKeyPem }, (req, res) => {
    handle(core, admin, req, res).catch(() => {
      if (!res.headersSent) send(res, 500, { 'Content-Type': 'application/json' }, JSON.stringify({ error: { code: 'InternalServerError', message: 'Emulator failure.' } }));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

export function boundPort(server: Server): number {
  return (server.address() as AddressInfo).port;
}

async function handle(core: Core, admin: AdminTarget, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const rawQuery = q < 0 ? '' : url.slice(q + 1);
  const method = (req.method ?? 'GET').toUpperCase();
  const body = await readBody(req);
  const headers = headerRecord(req);
  const origin = `https://${headers.host ?? '127.0.0.1'}`;
  if (path === '/_admin' || path.startsWith('/_admin/')) {
    const r = handleAdmin(admin, method, path, body ?? Buffer.alloc(0));
    send(res, r.status, { 'Content-Type': 'application/json; charset=utf-8' }, JSON.stringify(r.body));
    return;
  }
  core.stats.requests++;
  const f = core.faults;
  if (f.latencyMs > 0 || f.latencyJitterMs > 0) await sleep(f.latencyMs + core.random() * f.latencyJitterMs);
  if (!body) {
    const err = new GraphError(413, 'RequestEntityTooLarge', 'The request body is too large.');
    send(res, 413, { 'Content-Type': 'application/json' }, JSON.stringify(errorBody(err, '', '', new Date())));
    return;
  }
  if (path === '/v1.0' || path.startsWith('/v1.0/')) {
    sendGraph(res, handleGraph(core, { method, path: path.slice('/v1.0'.length), rawQuery, headers, body: body.length ? body : undefined, origin }));
    return;
  }
  const version = /^\/(beta|v\d+\.\d+)(\/|$)/.exec(path);
  if (version) {
    const err = new GraphError(400, 'BadRequest', `Invalid version: ${version[1]}`);
    send(res, 400, { 'Content-Type': 'application/json' }, JSON.stringify(errorBody(err, '', '', new Date(core.clock.now()))));
    return;
  }
  const authority = handleAuthority(core, { method, path, query: new URLSearchParams(rawQuery), headers, body, origin });
  if (authority) {
    send(res, authority.status, authority.headers, JSON.stringify(authority.body));
    return;
  }
  send(res, 404, { 'Content-Type': 'application/json' }, JSON.stringify({ error: 'not_found', error_description: `No endpoint at ${path}` }));
}
