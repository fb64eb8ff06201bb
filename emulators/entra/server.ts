import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleAdmin, type AdminTarget } from './admin.js';
import type { Core } from './core.js';
import { GraphError, errorBody } from './errors.js';
import { takeMalformed, takeNetworkFault } from './faults.js';
import { handleGraph } from './graph.js';
import { JSON_CONTENT_TYPE, type GraphResponse } from './http.js';
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

// What a proxy or captive portal in front of Graph answers to a request it intercepts.
const SIGN_IN_PAGE =
  '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sign in to your account</title></head><body>' +
  '<form method="post" action="/login"><h1>Sign in</h1><input name="loginfmt"><input name="passwd" type="password"><button>Sign in</button></form></body></html>';

/** The reply as sent, with its body cut in half: a connection that dropped mid-reply. */
function sendTruncated(res: ServerResponse, r: GraphResponse): void {
  const full = Buffer.from(r.json !== undefined ? JSON.stringify(r.json) : r.binary ?? r.text ?? '');
  if (full.length < 2) {
    // Nothing to cut: send the start of an error envelope instead of an empty 201/204.
    send(res, r.status === 204 ? 200 : r.status, { ...r.headers, 'Content-Type': JSON_CONTENT_TYPE }, '{"error":{"co');
    return;
  }
  send(res, r.status, r.headers, full.subarray(0, Math.floor(full.length / 2)));
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
    // Decided per HTTP reply, outside handleGraph, so a `$batch` envelope is garbled whole
    // and its items (executed by the same code as top-level requests) never are.
    const network = takeNetworkFault(core.faults, core.random);
    if (network === 'reset') {
      core.stats.faultsInjected++;
      core.stats.resets++;
      if (typeof req.socket.resetAndDestroy === 'function') req.socket.resetAndDestroy();
      else req.socket.destroy();
      return;
    }
    const garble = takeMalformed(core.faults, core.random);
    if (garble) {
      core.stats.faultsInjected++;
      core.stats.malformed++;
    }
    if (garble && core.faults.malformedKind === 'html200') {
      send(res, 200, { 'Content-Type': 'text/html; charset=utf-8' }, SIGN_IN_PAGE);
      return;
    }
    const r = handleGraph(core, { method, path: path.slice('/v1.0'.length), rawQuery, headers, body: body.length ? body : undefined, origin });
    if (network === 'stall') {
      // Applied, then answered too late: the client has given up by then.
      core.stats.faultsInjected++;
      core.stats.stalls++;
      await new Promise<void>((resolve) => setTimeout(resolve, core.faults.stallMs).unref());
      if (res.destroyed) return;
    }
    if (garble) sendTruncated(res, r);
    else sendGraph(res, r);
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
