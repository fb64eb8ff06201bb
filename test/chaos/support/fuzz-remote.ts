import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { issueServerCertificate, loadOrCreateAuthority } from '../../../emulators/entra/certificates.js';

/**
 * A stand-in remote that answers every request with the next of a script of replies (cycling),
 * whatever was asked: the fuzz tests feed the connectors' reply parsing with bodies no real
 * server would send on purpose but a proxy, a cut-off connection or a version skew can.
 */

export interface FuzzReply {
  status: number;
  contentType: string;
  body: string;
  retryAfter?: string;
}

export class ScriptedRemote {
  readonly #server: Server;
  #script: FuzzReply[] = [{ status: 200, contentType: 'application/json', body: '{}' }];
  #next = 0;
  /** Requests answered since the last `play`. */
  requests = 0;
  url = '';

  private constructor(server: Server) {
    this.#server = server;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      // Read the request to its end first, as a server does, so the client never sees a reset.
      req.resume();
      req.on('end', () => {
        const reply = this.#script[this.#next++ % this.#script.length]!;
        this.requests++;
        // A 204 carries no body by definition (Node would drop it, and the length would then lie).
        const body = reply.status === 204 ? '' : reply.body;
        const headers: Record<string, string> = { 'content-length': String(Buffer.byteLength(body)) };
        if (reply.contentType) headers['content-type'] = reply.contentType;
        if (reply.retryAfter !== undefined) headers['retry-after'] = reply.retryAfter;
        res.writeHead(reply.status, headers).end(body);
      });
    });
  }

  /** Over plain HTTP (Crowd), or HTTPS with a certificate of the Entra emulator's CA (Graph needs https). */
  static async start(tls: boolean): Promise<ScriptedRemote> {
    const server = tls
      ? await (async () => {
          const cert = await issueServerCertificate(await loadOrCreateAuthority('.idsync/entra'));
          return createHttpsServer({ cert: cert.certificatePem, key: cert.privateKeyPem });
        })()
      : createHttpServer();
    const remote = new ScriptedRemote(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    remote.url = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    return remote;
  }

  /** From now on, answer with these replies in turn. */
  play(script: FuzzReply[]): void {
    this.#script = script.length ? script : this.#script;
    this.#next = 0;
    this.requests = 0;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}

const STATUSES = [200, 200, 200, 201, 204, 400, 401, 403, 404, 409, 412, 429, 500, 502, 503, 504];
const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'application/json;odata.metadata=minimal', 'text/html; charset=utf-8', 'text/plain', 'application/xml', ''];

/** Bodies shaped like the remotes' own, with values of the wrong type in places. */
const lookalike = (fields: string[]) =>
  fc.dictionary(fc.constantFrom(...fields), fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string(), fc.constant(null)), { maxKeys: fields.length });

const CROWD_FIELDS = ['name', 'key', 'first-name', 'last-name', 'display-name', 'email', 'active', 'attributes', 'users', 'groups', 'reason', 'message', 'newEventToken', 'events', 'isIncrementalSyncAvailable', 'link', 'expand'];
const GRAPH_FIELDS = ['id', 'userPrincipalName', 'displayName', 'givenName', 'surname', 'mail', 'accountEnabled', 'onPremisesSyncEnabled', 'value', '@odata.nextLink', '@odata.deltaLink', 'error', 'responses', 'verifiedDomains', 'roles'];

/** A plausible body cut off at a random point (a lost connection, a proxy's buffer limit). */
const truncated = (shape: fc.Arbitrary<unknown>) =>
  fc.tuple(shape, fc.double({ min: 0, max: 1, noNaN: true })).map(([v, at]) => {
    const text = JSON.stringify(v) ?? '';
    return text.slice(0, Math.floor(at * text.length));
  });

const html = fc.constantFrom(
  '<!DOCTYPE html><html><head><title>Sign in</title></head><body><form action="/login"><input name="password"></form></body></html>',
  '<html><body><h1>502 Bad Gateway</h1></body></html>',
  '<html>',
);

/** Graph `$batch` answers whose items are malformed in various ways. */
const batchBodies = fc.array(
  fc.record({ id: fc.oneof(fc.constantFrom('1', '2', '3'), fc.jsonValue({ maxDepth: 0 })), status: fc.oneof(fc.constantFrom(200, 201, 204, 400, 404, 429, 503), fc.jsonValue({ maxDepth: 0 })), headers: fc.oneof(fc.constant({}), fc.jsonValue({ maxDepth: 1 })), body: fc.oneof(lookalike(GRAPH_FIELDS), fc.jsonValue({ maxDepth: 2 })) }, { requiredKeys: [] }),
  { maxLength: 4 },
).map((responses) => ({ responses }));

/** One arbitrary reply for `target`. */
export function fuzzReply(target: 'crowd' | 'entra'): fc.Arbitrary<FuzzReply> {
  const fields = target === 'crowd' ? CROWD_FIELDS : GRAPH_FIELDS;
  const shapes: fc.Arbitrary<unknown>[] = [lookalike(fields), fc.jsonValue({ maxDepth: 3 }), fc.record({ value: fc.array(lookalike(fields), { maxLength: 3 }) }), fc.record({ users: fc.array(lookalike(fields), { maxLength: 3 }) })];
  if (target === 'entra') shapes.push(batchBodies);
  const shape = fc.oneof(...shapes);
  const body = fc.oneof(
    { weight: 4, arbitrary: shape.map((v) => JSON.stringify(v) ?? '') },
    { weight: 2, arbitrary: truncated(shape) },
    { weight: 1, arbitrary: html },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 100 }) },
    { weight: 1, arbitrary: fc.constant('') },
  );
  return fc.record(
    {
      status: fc.constantFrom(...STATUSES),
      contentType: fc.constantFrom(...CONTENT_TYPES),
      body,
      retryAfter: fc.oneof(fc.constantFrom('0', '1', '-5', 'soon', '99999999999'), fc.stringMatching(/^[\x21-\x7e]{0,10}$/)),
    },
    { requiredKeys: ['status', 'contentType', 'body'] },
  );
}
