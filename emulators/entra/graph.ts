import { randomUUID } from 'node:crypto';
import { authenticate } from './auth.js';
import { handleBatch } from './batch.js';
import type { Core } from './core.js';
import { GraphError, errorBody, formatSeconds, stampInnerError, transientError } from './errors.js';
import { json, splitPath, type GraphRequest, type GraphResponse } from './http.js';
import { parseQuery } from './odata.js';
import { matchRoute } from './routes.js';
import { limitPercentageHeader, resourceUnitCost, tenantSizeFor } from './throttling.js';
import { decodeToken } from './tokens.js';

const WRITE_METHODS = new Set(['POST', 'PATCH', 'PUT', 'DELETE']);

export interface IncomingGraphRequest {
  method: string;
  /** Path after `/v1.0`, still percent-encoded. */
  path: string;
  rawQuery: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
  origin: string;
}

/** A top-level HTTPS request under /v1.0. */
export function handleGraph(core: Core, incoming: IncomingGraphRequest): GraphResponse {
  core.stats.graphRequests++;
  const requestId = randomUUID();
  const clientRequestId = incoming.headers['client-request-id'] ?? requestId;
  let res: GraphResponse;
  try {
    const auth = authenticate(core, incoming.headers.authorization);
    const req: GraphRequest = {
      method: incoming.method,
      segments: splitPath(incoming.path),
      query: parseQuery(incoming.rawQuery),
      headers: incoming.headers,
      body: incoming.body,
      auth,
      origin: incoming.origin,
      inBatch: false,
    };
    if (req.segments.length === 1 && req.segments[0] === '$batch') {
      if (req.method !== 'POST') throw new GraphError(405, 'Request_BadRequest', 'Specified HTTP method is not allowed for the request target.');
      core.stats.batchRequests++;
      res = handleBatch(core, req, (item) => execute(core, item));
    } else {
      res = execute(core, req);
    }
  } catch (err) {
    res = errorResponse(core, err);
    count(core, res.status);
  }
  return finish(core, res, requestId, clientRequestId);
}

function finish(core: Core, res: GraphResponse, requestId: string, clientRequestId: string): GraphResponse {
  res.headers['request-id'] = requestId;
  res.headers['client-request-id'] = clientRequestId;
  res.headers['x-ms-ags-diagnostic'] = JSON.stringify({ ServerInfo: { DataCenter: 'Emulator', Slice: 'E', Ring: '0', ScaleUnit: '000' } });
  stampInnerError(res.json, requestId, clientRequestId, new Date(core.clock.now()));
  return res;
}

function errorResponse(core: Core, err: unknown): GraphResponse {
  if (!(err instanceof GraphError)) throw err;
  return json(err.status, errorBody(err, '', '', new Date(core.clock.now())), { ...err.headers });
}

function count(core: Core, status: number): void {
  core.stats.byStatus[status] = (core.stats.byStatus[status] ?? 0) + 1;
  if (status === 429) core.stats.throttled++;
}

/** Effective $select/$top of a request, including those carried in a $skiptoken. */
function costQuery(req: GraphRequest): { select: boolean; expand: boolean; top: number | undefined } {
  const token = req.query.get('$skiptoken');
  const state = token ? decodeToken<{ s?: unknown; t?: unknown }>(token) : undefined;
  const top = state ? state.t : req.query.get('$top');
  return {
    select: state ? state.s !== undefined : req.query.has('$select'),
    expand: req.query.has('$expand'),
    top: top === undefined || top === null ? undefined : Number(top),
  };
}

/** One Graph operation (top-level or batch item): route, throttle, faults, handler. */
export function execute(core: Core, req: GraphRequest): GraphResponse {
  let res: GraphResponse;
  let cost = 0;
  try {
    const { route, params } = matchRoute(req.method, req.segments);
    cost = resourceUnitCost(route.cost, req.method, costQuery(req));
    const write = WRITE_METHODS.has(req.method);
    const throttleHeaders = admit(core, req, cost, write);
    injectFault(core, 'before', req.method);
    res = route.handler(req, core, params);
    injectFault(core, 'after', req.method);
    Object.assign(res.headers, throttleHeaders);
  } catch (err) {
    res = errorResponse(core, err);
  }
  count(core, res.status);
  res.headers['Cache-Control'] = 'no-cache';
  if (cost) res.headers['x-ms-resource-unit'] = String(cost);
  if (res.json !== undefined) res.headers['OData-Version'] = '4.0';
  return res;
}

function admit(core: Core, req: GraphRequest, cost: number, write: boolean): Record<string, string> {
  const f = core.faults;
  if (f.throttleRate > 0 && core.random() < f.throttleRate) {
    core.stats.faultsInjected++;
    throw throttled(core.clock.scaled(f.faultRetryAfterSeconds ?? 1), `Tenant_Application/ReadWrite/${req.auth.appId}/${req.auth.tenantId}`, 'CPULimitExceeded');
  }
  const size = f.tenantSize === 'auto' ? tenantSizeFor(core.directory.users.size) : f.tenantSize;
  const decision = core.throttle.charge(req.auth.appId, req.auth.tenantId, size, cost, write, f.throttling);
  if (!decision.ok) throw throttled(decision.retryAfterMs, decision.scope, decision.information);
  core.stats.resourceUnits += cost;
  if (write) core.stats.writes++;
  const pct = limitPercentageHeader(decision.usage);
  return pct ? { 'x-ms-throttle-limit-percentage': pct } : {};
}

function throttled(retryAfterMs: number, scope: string, information: string): GraphError {
  return new GraphError(429, 'TooManyRequests', 'Please retry again later.', undefined, {
    'Retry-After': formatSeconds(retryAfterMs / 1000),
    'x-ms-throttle-scope': scope,
    'x-ms-throttle-information': information,
  });
}

/** failNext (before or after applying the request) and the random error rate. */
function injectFault(core: Core, phase: 'before' | 'after', method: string): void {
  const f = core.faults;
  const retryAfter = f.faultRetryAfterSeconds === null ? undefined : core.clock.scaled(f.faultRetryAfterSeconds) / 1000;
  const withRetry = (status: number): number | undefined => (status === 503 || status === 504 || status === 429 ? retryAfter : undefined);
  if (f.failNext > 0 && f.failNextMode === phase && (!f.failNextMethods || f.failNextMethods.includes(method))) {
    f.failNext--;
    core.stats.faultsInjected++;
    throw transientError(f.failNextStatus, withRetry(f.failNextStatus));
  }
  if (phase === 'before' && f.errorRate > 0 && core.random() < f.errorRate) {
    const statuses = f.errorStatuses.length ? f.errorStatuses : [503];
    const status = statuses[Math.floor(core.random() * statuses.length)]!;
    core.stats.faultsInjected++;
    throw transientError(status, withRetry(status));
  }
}
