import { randomUUID } from 'node:crypto';
import type { Core } from './core.js';
import { GraphError, segmentNotFound, stampInnerError } from './errors.js';
import { JSON_CONTENT_TYPE, json, readJson, splitPath, type GraphRequest, type GraphResponse } from './http.js';
import { parseQuery } from './odata.js';

const MAX_REQUESTS = 20;

interface BatchItem {
  id: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
  dependsOn: string[];
}

const invalidBatch = (message: string): GraphError => new GraphError(400, 'BadRequest', message);

function parseItems(raw: unknown): BatchItem[] {
  const requests = raw && typeof raw === 'object' ? (raw as { requests?: unknown }).requests : undefined;
  if (!Array.isArray(requests)) throw invalidBatch('Invalid batch payload format.');
  if (requests.length === 0) throw invalidBatch('Invalid batch payload format: the batch must contain at least one request.');
  if (requests.length > MAX_REQUESTS) throw invalidBatch(`Number of requests in the batch exceeds the limit of ${MAX_REQUESTS}.`);
  const seen = new Set<string>();
  const items = requests.map((r: unknown): BatchItem => {
    if (!r || typeof r !== 'object') throw invalidBatch('Invalid batch payload format.');
    const o = r as Record<string, unknown>;
    if (typeof o.id !== 'string' || !o.id) throw invalidBatch('Request Id is required for all requests in the batch.');
    if (typeof o.method !== 'string' || typeof o.url !== 'string') throw invalidBatch(`Request ${o.id} requires 'method' and 'url'.`);
    const key = o.id.toLowerCase();
    if (seen.has(key)) throw invalidBatch(`Request Id '${o.id}' must be unique within the batch.`);
    seen.add(key);
    const headers: Record<string, string> = {};
    if (o.headers !== undefined) {
      if (typeof o.headers !== 'object' || o.headers === null) throw invalidBatch(`Invalid headers for request ${o.id}.`);
      for (const [k, v] of Object.entries(o.headers as Record<string, unknown>)) headers[k.toLowerCase()] = String(v);
    }
    if (o.body !== undefined && o.body !== null && !headers['content-type']) {
      throw invalidBatch(`Write request id : ${o.id} does not contain Content-Type header or body.`);
    }
    const deps = o.dependsOn === undefined ? [] : o.dependsOn;
    if (!Array.isArray(deps) || deps.some((d) => typeof d !== 'string')) throw invalidBatch(`Invalid dependsOn for request ${o.id}.`);
    return { id: o.id, method: o.method.toUpperCase(), url: o.url, headers, body: o.body, dependsOn: deps as string[] };
  });
  for (const item of items) {
    for (const d of item.dependsOn) {
      if (!seen.has(d.toLowerCase())) throw invalidBatch(`Request ${item.id} depends on unknown request '${d}'.`);
    }
  }
  return items;
}

/** Dependencies first, otherwise in the order given; a cycle fails the whole batch. */
function executionOrder(items: BatchItem[]): BatchItem[] {
  const byId = new Map(items.map((i) => [i.id.toLowerCase(), i]));
  const done = new Set<string>();
  const visiting = new Set<string>();
  const order: BatchItem[] = [];
  const visit = (item: BatchItem): void => {
    const key = item.id.toLowerCase();
    if (done.has(key)) return;
    if (visiting.has(key)) throw invalidBatch('The batch contains a circular dependency.');
    visiting.add(key);
    for (const d of item.dependsOn) visit(byId.get(d.toLowerCase())!);
    visiting.delete(key);
    done.add(key);
    order.push(item);
  };
  items.forEach(visit);
  return order;
}

function itemBody(item: BatchItem): Buffer | undefined {
  if (item.body === undefined || item.body === null) return undefined;
  const type = item.headers['content-type'] ?? '';
  if (/json/i.test(type)) return Buffer.from(JSON.stringify(item.body));
  // Binary bodies travel base64-encoded.
  return typeof item.body === 'string' ? Buffer.from(item.body, 'base64') : Buffer.from(JSON.stringify(item.body));
}

/** Item URLs are version-relative; `/v1.0/users` is refused the way Graph does ("segment 'v1.0'"). */
function itemRequest(outer: GraphRequest, item: BatchItem): GraphRequest {
  let url = item.url;
  const abs = /^https?:\/\/[^/]+(\/.*)?$/i.exec(url);
  if (abs) url = abs[1] ?? '/';
  if (!url.startsWith('/')) url = `/${url}`;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const segments = splitPath(path);
  if (segments[0] === '$batch') throw segmentNotFound('$batch');
  return {
    method: item.method,
    segments,
    query: parseQuery(q < 0 ? '' : url.slice(q + 1)),
    headers: { ...item.headers, authorization: outer.headers.authorization ?? '' },
    body: itemBody(item),
    auth: outer.auth,
    origin: outer.origin,
    inBatch: true,
  };
}

function toItemResponse(id: string, res: GraphResponse): Record<string, unknown> {
  const out: Record<string, unknown> = { id, status: res.status, headers: res.headers };
  if (res.json !== undefined) out.body = res.json;
  else if (res.binary !== undefined) out.body = res.binary.toString('base64');
  else if (res.text !== undefined) out.body = res.text;
  return out;
}

/** Graph answers batch items in any order, so clients must match them by `id` (Fisher-Yates). */
function shuffle<T>(items: T[], random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}

/** `POST /$batch`: ≤ 20 items, each routed, throttled and fault-injected on its own. */
export function handleBatch(core: Core, outer: GraphRequest, execute: (req: GraphRequest) => GraphResponse): GraphResponse {
  const items = executionOrder(parseItems(readJson(outer)));
  const statuses = new Map<string, number>();
  const responses: Record<string, unknown>[] = [];
  let units = 0;
  for (const item of items) {
    core.stats.batchItems++;
    let res: GraphResponse;
    const failed = item.dependsOn.find((d) => (statuses.get(d.toLowerCase()) ?? 0) >= 400);
    if (failed !== undefined) {
      res = json(424, { error: { code: 'FailedDependency', message: `The request depends on request '${failed}', which failed.`, innerError: {} } });
      res.headers['Cache-Control'] = 'no-cache';
      core.stats.byStatus[424] = (core.stats.byStatus[424] ?? 0) + 1;
    } else {
      try {
        res = execute(itemRequest(outer, item));
      } catch (err) {
        if (!(err instanceof GraphError)) throw err;
        res = json(err.status, { error: { code: err.code, message: err.message, innerError: {} } });
        core.stats.byStatus[err.status] = (core.stats.byStatus[err.status] ?? 0) + 1;
      }
    }
    units += Number(res.headers['x-ms-resource-unit'] ?? 0);
    stampInnerError(res.json, randomUUID(), item.headers['client-request-id'] ?? outer.headers['client-request-id'] ?? randomUUID(), new Date(core.clock.now()));
    statuses.set(item.id.toLowerCase(), res.status);
    responses.push(toItemResponse(item.id, res));
  }
  shuffle(responses, core.batchOrder);
  const headers: Record<string, string> = { 'Content-Type': JSON_CONTENT_TYPE, 'OData-Version': '4.0', 'Cache-Control': 'no-cache' };
  if (units) headers['x-ms-resource-unit'] = String(units);
  return { status: 200, headers, json: { responses } };
}
