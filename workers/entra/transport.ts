import {
  AuthenticationHandler,
  Client,
  GraphClientError,
  TelemetryHandler,
  type Context,
  type Middleware,
} from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js';
import type { TokenCredential } from '@azure/identity';
import { GRAPH_SCOPE } from './credentials.js';
import type { RawReply } from './errors.js';

/**
 * graph-client 3.0.7 with a middleware chain of our own: authentication and telemetry as the
 * SDK does them, then a plain fetch. The SDK's RetryHandler is left out on purpose: it would
 * re-send POSTs and PATCHes on 429/503/504 behind our back (reference §2.4), while BullMQ owns
 * retries and the runtime turns 429 into a queue-wide pause. Its RedirectHandler is left out
 * too: Graph does not redirect API calls, and a redirect means GRAPH_BASE_URL is wrong.
 */

/** A fetch that got no response, carried through graph-client unchanged (it rethrows GraphClientErrors as they are). */
export class TransportFailure extends GraphClientError {
  constructor(readonly failure: unknown) {
    super(failure instanceof Error ? failure.message : String(failure));
    // GraphClientError's constructor resets the prototype to its own; restore ours.
    Object.setPrototypeOf(this, new.target.prototype);
    this.name = 'TransportFailure';
  }
}

class FetchHandler implements Middleware {
  async execute(context: Context): Promise<void> {
    try {
      // fetch follows redirects by default; handed back, one fails as a wrong GRAPH_BASE_URL.
      context.response = await fetch(context.request, { ...(context.options as RequestInit), redirect: 'manual' });
    } catch (err) {
      throw new TransportFailure(err);
    }
  }
}

/** The SDK client pointed at `graphBaseUrl`; the token goes only to that host (`customHosts`, hostname without port). */
export function createSdkClient(graphBaseUrl: string, credential: TokenCredential): Client {
  const auth = new AuthenticationHandler(new TokenCredentialAuthenticationProvider(credential, { scopes: [GRAPH_SCOPE] }));
  return Client.initWithMiddleware({
    middleware: [auth, new TelemetryHandler(), new FetchHandler()],
    baseUrl: graphBaseUrl.endsWith('/') ? graphBaseUrl : `${graphBaseUrl}/`,
    defaultVersion: 'v1.0',
    customHosts: new Set([new URL(graphBaseUrl).hostname]),
  });
}

/** Reads a whole response into a RawReply; JSON bodies are parsed, others kept as text or bytes. */
export async function readReply(response: Response, binary: boolean): Promise<RawReply & { bytes?: Buffer }> {
  const headers: Record<string, string> = {};
  response.headers.forEach((v, k) => (headers[k] = v));
  const contentType = (response.headers.get('content-type') ?? '').toLowerCase();
  if (binary && response.ok && !contentType.includes('json')) {
    const bytes = Buffer.from(await response.arrayBuffer());
    return { status: response.status, headers, text: '', contentType, json: undefined, malformed: false, bytes };
  }
  const text = await response.text();
  return { status: response.status, headers, text, contentType, ...parseJson(text, contentType) };
}

/** JSON when the type says so (or the body looks like it and has no type). */
export function parseJson(text: string, contentType: string): { json: unknown; malformed: boolean } {
  const looksJson = contentType.includes('json') || (contentType === '' && /^\s*[{[]/.test(text));
  if (!looksJson || text.trim() === '') return { json: undefined, malformed: false };
  try {
    return { json: JSON.parse(text), malformed: false };
  } catch {
    return { json: undefined, malformed: true };
  }
}
