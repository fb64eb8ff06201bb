// Replies of the injected faults: what a rate limiter, a reverse proxy, a WAF, a crashing
// Tomcat or a flaky network would send instead of (or on top of) Crowd's answer.
import type { IncomingMessage } from 'node:http';
import { errorRep } from './entities.js';
import type { FaultInjector, InjectedFault } from './faults.js';
import { negotiate } from './negotiation.js';
import { CONTENT_TYPES, HTML, type Outgoing, TEXT, out } from './outgoing.js';
import { SSO_LOGIN_PAGE, WAF_403_PAGE, proxyErrorPage, tomcatErrorPage } from './pages.js';
import type { StatsCollector } from './stats.js';

interface FaultRuntime {
  faults: FaultInjector;
  stats: StatsCollector;
}

export function waf403(rt: FaultRuntime): Outgoing {
  rt.stats.html403++;
  return out(403, WAF_403_PAGE, 'text/html', false);
}

export function throttled(rt: FaultRuntime): Outgoing {
  const f = rt.faults.current;
  const size = f.rateLimitPerSecond > 0 ? (f.rateLimitBurst > 0 ? f.rateLimitBurst : Math.max(1, Math.ceil(f.rateLimitPerSecond))) : 100;
  const o = out(429, 'Rate limit exceeded', TEXT);
  o.headers['X-RateLimit-Limit'] = String(size);
  o.headers['X-RateLimit-Remaining'] = '0';
  o.headers['X-RateLimit-Interval-Seconds'] = '1';
  o.headers['X-RateLimit-FillRate'] = String(f.rateLimitPerSecond > 0 ? f.rateLimitPerSecond : size);
  if (f.sendRetryAfter) o.headers['Retry-After'] = String(f.throttleRetryAfterSeconds);
  return o;
}

export function serverError(rt: FaultRuntime, req: IncomingMessage): Outgoing {
  const status = rt.faults.serverErrorStatusNow();
  if (status !== 500) return out(status, proxyErrorPage(status), HTML, false);
  const format = negotiate(req.headers.accept) ?? 'xml';
  const rep = errorRep('OPERATION_FAILED', 'Injected failure: the operation could not be completed');
  return out(500, format === 'json' ? JSON.stringify(rep.json()) : rep.xml(), CONTENT_TYPES[format]);
}

export function malformedHtml(rt: FaultRuntime): Outgoing {
  rt.stats.malformed++;
  return rt.faults.current.malformedKind === 'html200'
    ? out(200, SSO_LOGIN_PAGE, HTML, false)
    : out(500, tomcatErrorPage(500, 'Request processing failed'), HTML);
}

function truncate(rt: FaultRuntime, o: Outgoing): Outgoing {
  rt.stats.malformed++;
  const full = Buffer.from(o.body ?? '');
  if (full.length < 2) {
    // Nothing to cut: send the start of an entity instead of an empty 201/204.
    const contentType = o.headers['Content-Type'] ?? CONTENT_TYPES.json;
    const body = contentType.includes('xml') ? '<?xml version="1.0" enc' : '{"reason":"';
    return { ...o, status: o.status === 204 ? 200 : o.status, body, headers: { ...o.headers, 'Content-Type': contentType } };
  }
  return { ...o, body: full.subarray(0, Math.floor(full.length / 2)) };
}

/** Faults that strike after the request was applied (failAfterApply, and truncation). */
export function applyLateFault(rt: FaultRuntime, req: IncomingMessage, fault: InjectedFault, o: Outgoing): Outgoing | null {
  if (fault === 'reset') return null;
  if (fault === 'serverError') return serverError(rt, req);
  if (fault === 'malformed') return rt.faults.current.malformedKind === 'truncated' ? truncate(rt, o) : malformedHtml(rt);
  return o;
}
