// The HTTP pipeline, outermost layer first: latency → injected network/proxy faults →
// context path → application auth → remote-address allow-list → rate limit → routing →
// content negotiation → handler → (faults that strike after the write) → reply.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { normalizeAddress } from './access.js';
import type { EmulatorSettings, Reply, RequestContext } from './context.js';
import { errorRep } from './entities.js';
import { CrowdError, RawHttpError } from './errors.js';
import { applyLateFault, malformedHtml, serverError, throttled, waf403 } from './fault-replies.js';
import type { FaultInjector, InjectedFault } from './faults.js';
import { type Format, negotiate } from './negotiation.js';
import { CONTENT_TYPES, HTML, type Outgoing, TEXT, out } from './outgoing.js';
import { remoteAddressForbiddenPage, tomcatErrorPage } from './pages.js';
import type { TokenBucket } from './rate-limit.js';
import { ROUTES, routeKey } from './router.js';
import type { StatsCollector } from './stats.js';
import type { DirectoryStore } from './store.js';

export const CROWD_VERSION = 'Crowd/5.1.6';
export const CONTEXT_PATH = '/crowd';
export const ADMIN_PATH = '/_emulator';

const API = /^\/crowd\/rest\/usermanagement\/(1|latest)(?:\/(.*))?$/;
const MAX_BODY = 16 * 1024 * 1024;

export interface Runtime {
  store: DirectoryStore;
  faults: FaultInjector;
  bucket: TokenBucket;
  stats: StatsCollector;
  settings: EmulatorSettings;
  checkAuth: (header: string | undefined) => boolean;
  /** Null when no allow-list is configured. */
  addressAllowed: ((address: string) => boolean) | null;
  admin: (req: IncomingMessage, res: ServerResponse, subpath: string, body: Buffer) => void;
  timers: Set<NodeJS.Timeout>;
}

function send(rt: Runtime, res: ServerResponse, o: Outgoing): void {
  if (res.destroyed || res.headersSent) return;
  const headers = o.headers;
  if (o.crowd) headers['X-Embedded-Crowd-Version'] = CROWD_VERSION;
  const bodyless = o.status === 204 || o.status === 304;
  headers['Content-Length'] = String(bodyless || o.body === undefined ? 0 : Buffer.byteLength(o.body));
  rt.stats.status(o.status);
  res.writeHead(o.status, headers);
  res.end(bodyless ? undefined : o.body);
}

function resetConnection(rt: Runtime, req: IncomingMessage): void {
  rt.stats.resets++;
  const socket = req.socket;
  if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
  else socket.destroy();
}

/** A timeout as the client sees it: the request is applied, its reply held back for `stallMs`. */
function stall(rt: Runtime, req: IncomingMessage, res: ServerResponse, method: string, path: string, query: string): void {
  rt.stats.stalls++;
  collectBody(req, (body) => {
    const o = body === null ? out(413, undefined) : crowd(rt, req, method, path, query, body);
    const timer = setTimeout(() => {
      rt.timers.delete(timer);
      send(rt, res, o);
    }, rt.faults.current.stallMs);
    rt.timers.add(timer);
  });
}

function collectBody(req: IncomingMessage, done: (body: Buffer | null) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY) tooLarge = true;
    else chunks.push(chunk);
  });
  req.on('end', () => done(tooLarge ? null : chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
  req.on('error', () => undefined);
}

// ---- Crowd ----

function render(format: Format, reply: Reply): Outgoing {
  const headers: Record<string, string> = { ...reply.headers };
  let body: string | undefined;
  if (reply.rep) body = format === 'json' ? JSON.stringify(reply.rep.json()) : reply.rep.xml();
  // npm clients insist on a JSON content type even on empty 201s.
  if (reply.status !== 204) headers['Content-Type'] = CONTENT_TYPES[format];
  return { status: reply.status, headers, body, crowd: true };
}

function renderError(e: unknown, format: Format): Outgoing {
  if (e instanceof CrowdError) {
    const rep = errorRep(e.reason, e.message);
    return out(e.status, format === 'json' ? JSON.stringify(rep.json()) : rep.xml(), CONTENT_TYPES[format]);
  }
  if (e instanceof RawHttpError) {
    const o = out(e.status, e.body === '' ? undefined : e.body, e.contentType);
    Object.assign(o.headers, e.headers);
    return o;
  }
  const rep = errorRep('OPERATION_FAILED', e instanceof Error ? e.message : String(e));
  return out(500, format === 'json' ? JSON.stringify(rep.json()) : rep.xml(), CONTENT_TYPES[format]);
}

function crowd(rt: Runtime, req: IncomingMessage, method: string, path: string, query: string, body: Buffer): Outgoing {
  if (!path.startsWith(`${CONTEXT_PATH}/rest/`)) {
    return out(404, tomcatErrorPage(404, `The requested resource [${path}] is not available`), HTML);
  }
  // BasicApplicationAuthenticationFilter runs before Jersey routing: bad credentials → 401 even for unknown paths.
  if (!rt.checkAuth(req.headers.authorization)) {
    const o = out(401, 'Application failed to authenticate', TEXT);
    o.headers['WWW-Authenticate'] = 'BASIC realm="Crowd REST Service"';
    return o;
  }
  if (rt.addressAllowed) {
    const address = normalizeAddress(req.socket.remoteAddress);
    if (!rt.addressAllowed(address)) return out(403, remoteAddressForbiddenPage(address, rt.settings.applicationName), HTML);
  }
  const f = rt.faults.current;
  rt.bucket.configure(f.rateLimitPerSecond, f.rateLimitBurst);
  let limitHeaders: Record<string, string> | undefined;
  if (rt.bucket.enabled) {
    const verdict = rt.bucket.take(f.sendRetryAfter);
    if (!verdict.allowed) {
      const o = out(429, 'Rate limit exceeded', TEXT);
      Object.assign(o.headers, verdict.headers);
      return o;
    }
    limitHeaders = verdict.headers;
  }
  const result = dispatch(rt, req, method, path, query, body);
  if (limitHeaders) Object.assign(result.headers, limitHeaders);
  return result;
}

function dispatch(rt: Runtime, req: IncomingMessage, method: string, path: string, query: string, body: Buffer): Outgoing {
  const m = API.exec(path);
  const key = m ? routeKey(m[2] ?? '') : undefined;
  const def = key !== undefined ? ROUTES.get(key) : undefined;
  if (!m || !def) return out(404, undefined);
  const handler = def.methods[method];
  if (!handler) {
    const o = out(405, undefined);
    o.headers['Allow'] = Object.keys(def.methods).concat(def.methods['GET'] ? ['HEAD'] : [], ['OPTIONS']).join(',');
    return o;
  }
  const format = negotiate(req.headers.accept, def.produces);
  if (format === null) return out(406, undefined);
  const ctx: RequestContext = {
    method,
    route: m[2] ?? '',
    query: new URLSearchParams(query),
    format,
    render: {
      base: `http://${req.headers.host ?? 'localhost'}${CONTEXT_PATH}/rest/usermanagement/${m[1]}/`,
      store: rt.store,
      singularListKeys: rt.faults.current.singularListKeys,
    },
    store: rt.store,
    faults: rt.faults.current,
    settings: rt.settings,
    body,
    contentType: req.headers['content-type'],
  };
  try {
    return render(format, handler(ctx));
  } catch (e) {
    return renderError(e, format);
  }
}

/** Tomcat merges repeated slashes; clients joining `base/` + `/rest/...` rely on it. */
function normalizePath(raw: string): string {
  const p = raw.replace(/\/{2,}/g, '/');
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

export function routeKind(path: string): string {
  const m = API.exec(path);
  // Unknown resources share one bucket so random paths cannot grow the counters without bound.
  if (m) return routeKey(m[2] ?? '') ?? 'unknown';
  return path.startsWith(`${CONTEXT_PATH}/`) ? 'other' : 'outside';
}

export function createHandler(rt: Runtime): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    const path = normalizePath(qi < 0 ? url : url.slice(0, qi));
    const query = qi < 0 ? '' : url.slice(qi + 1);

    if (path === ADMIN_PATH || path.startsWith(`${ADMIN_PATH}/`)) {
      collectBody(req, (body) => rt.admin(req, res, path.slice(ADMIN_PATH.length) || '/', body ?? Buffer.alloc(0)));
      return;
    }

    // HEAD is served by the GET resource (JAX-RS); Node drops the body.
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const kind = routeKind(path);
    rt.stats.request(method, kind);
    rt.stats.arrival();

    const proceed = (): void => {
      const fault = rt.faults.decide(method, kind);
      const late = rt.faults.current.failAfterApply;
      let after: InjectedFault | null = null;
      if (fault === 'reset' && !late) return resetConnection(rt, req);
      if (fault === 'stall') return stall(rt, req, res, method, path, query);
      if (fault === 'html403') return send(rt, res, waf403(rt));
      if (fault === 'throttle') return send(rt, res, throttled(rt));
      if (fault === 'serverError' && !late) return send(rt, res, serverError(rt, req));
      if (fault === 'malformed' && !late && rt.faults.current.malformedKind !== 'truncated') return send(rt, res, malformedHtml(rt));
      if (fault !== null) after = fault;

      collectBody(req, (body) => {
        let o: Outgoing | null =
          body === null ? out(413, undefined) : crowd(rt, req, method, path, query, body);
        if (after !== null) o = applyLateFault(rt, req, after, o);
        if (o === null) resetConnection(rt, req);
        else send(rt, res, o);
      });
    };

    const delay = rt.faults.latency();
    if (delay <= 0) {
      proceed();
      return;
    }
    const timer = setTimeout(() => {
      rt.timers.delete(timer);
      proceed();
    }, delay);
    rt.timers.add(timer);
  };
}
