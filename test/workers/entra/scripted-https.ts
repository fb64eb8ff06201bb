// A stand-in Graph or Entra authority that records every request exactly as it arrived and
// answers each with the next scripted answer, so a test controls status, headers and body down to
// the byte, or cuts the connection. Its certificate is issued by the emulator's CA, which the test
// command trusts (NODE_EXTRA_CA_CERTS), so clients talk to it as they would to Graph.
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { issueServerCertificate, loadOrCreateAuthority } from '../../../emulators/entra/certificates.js';

export interface SeenRequest {
  method: string;
  /** Path and query as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export type Answer = (res: ServerResponse, req: IncomingMessage) => void;

export class ScriptedHttps {
  readonly requests: SeenRequest[] = [];
  /** `https://127.0.0.1:<port>` without a trailing slash. */
  origin = '';
  readonly #server: Server;
  #answers: Answer[] = [];
  #fallback: Answer | undefined;

  private constructor(server: Server) {
    this.#server = server;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() });
        const answer = this.#answers.shift() ?? this.#fallback ?? text(599, 'text/plain', 'unscripted request');
        answer(res, req);
      });
    });
  }

  /** `tls` overrides the certificate, e.g. with one the trust store does not know. */
  static async start(tls?: { cert: string; key: string }): Promise<ScriptedHttps> {
    let cert = tls;
    if (!cert) {
      const issued = await issueServerCertificate(await loadOrCreateAuthority('.idsync/entra'));
      cert = { cert: issued.certificatePem, key: issued.privateKeyPem };
    }
    const server = createHttpsServer(cert);
    const scripted = new ScriptedHttps(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    scripted.origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return scripted;
  }

  /** Answers the next requests with these, in turn. */
  answer(...answers: Answer[]): void {
    this.#answers.push(...answers);
  }

  /** Answers every request the script does not cover. */
  otherwise(answer: Answer | undefined): void {
    this.#fallback = answer;
  }

  /** The certificate new connections get from now on. */
  useCertificate(tls: { cert: string; key: string }): void {
    this.#server.setSecureContext(tls);
  }

  /** Forgets requests and unused answers. */
  clear(): void {
    this.requests.length = 0;
    this.#answers = [];
    this.#fallback = undefined;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

export const text =
  (status: number, contentType: string | undefined, body: string | Buffer, headers: Record<string, string> = {}): Answer =>
  (res) => {
    // No Date header, so a test can pin a reply's headers exactly.
    res.sendDate = false;
    res.writeHead(status, { ...(contentType !== undefined && { 'content-type': contentType }), ...headers });
    res.end(body);
  };

export const json = (status: number, body: unknown, headers: Record<string, string> = {}): Answer => text(status, 'application/json', JSON.stringify(body), headers);

/** Headers and part of a body, then a reset: the reply is cut off. */
export const cutOff =
  (status: number, contentType: string, partial: string): Answer =>
  (res) => {
    res.writeHead(status, { 'content-type': contentType, 'content-length': String(Buffer.byteLength(partial) + 100) });
    res.write(partial, () => setImmediate(() => res.socket?.destroy()));
  };

/** The connection is dropped before any reply. */
export const reset: Answer = (res) => res.socket?.destroy();

/** No reply at all, until the client gives up (the server closes the socket on close()). */
export const silence: Answer = () => undefined;

