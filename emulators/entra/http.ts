import { GraphError } from './errors.js';
import type { AuthContext } from './permissions.js';

export const JSON_CONTENT_TYPE = 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

/** One Graph operation: a top-level HTTPS request or one `$batch` item. */
export interface GraphRequest {
  method: string;
  /** Decoded path segments after the version, key syntax normalised (`users('x')` → users, x). */
  segments: string[];
  query: Map<string, string>;
  /** Lower-case header names. */
  headers: Record<string, string>;
  body: Buffer | undefined;
  auth: AuthContext;
  /** Scheme and authority the client used, for absolute links (`https://127.0.0.1:1234`). */
  origin: string;
  inBatch: boolean;
}

export interface GraphResponse {
  status: number;
  /** Exact-case header names (batch items expose them verbatim). */
  headers: Record<string, string>;
  json?: unknown;
  binary?: Buffer;
  text?: string;
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): GraphResponse {
  return { status, headers: { 'Content-Type': JSON_CONTENT_TYPE, ...headers }, json: body };
}

export const noContent = (): GraphResponse => ({ status: 204, headers: {} });

export function readJson(req: GraphRequest): unknown {
  if (!req.body || req.body.length === 0) return undefined;
  try {
    return JSON.parse(req.body.toString('utf8'));
  } catch {
    throw new GraphError(400, 'BadRequest', 'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.');
  }
}

/**
 * Splits a version-relative path into decoded segments. OData key syntax
 * (`users('a@b.com')`, `delta()`) and the `microsoft.graph.` function prefix are normalised.
 */
export function splitPath(path: string): string[] {
  const out: string[] = [];
  for (const raw of path.split('/')) {
    if (!raw) continue;
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      throw new GraphError(400, 'BadRequest', `Invalid URL segment '${raw}'.`);
    }
    const key = /^([A-Za-z.]+)\((.*)\)$/.exec(seg);
    if (key) {
      out.push(normaliseName(key[1]!));
      const inner = key[2]!.trim();
      if (inner) out.push(inner.startsWith("'") && inner.endsWith("'") ? inner.slice(1, -1).replace(/''/g, "'") : inner);
    } else {
      // `/users/$x@y.com` is refused: UPNs starting with '$' need the `users('$x@y.com')` form.
      if (seg.startsWith('$') && !SYSTEM_SEGMENTS.has(seg) && out.length > 0) {
        throw new GraphError(400, 'Request_BadRequest', `Invalid object identifier '${seg}'.`);
      }
      out.push(normaliseName(seg));
    }
  }
  return out;
}

export const SYSTEM_SEGMENTS = new Set(['$count', '$ref', '$value', '$batch', '$metadata']);

function normaliseName(seg: string): string {
  return seg === 'microsoft.graph.delta' ? 'delta' : seg;
}
