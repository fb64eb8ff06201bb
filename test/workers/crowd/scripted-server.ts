// A stand-in Crowd for the client's tests: it records every request exactly as it arrived and
// answers each with the next scripted answer, so a test controls status, headers, body, a cut-off
// body, a reset or no answer at all, down to the byte.
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

export interface SeenRequest {
  method: string;
  /** Path and query as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The client's port: equal ports mean one kept-alive connection. */
  port: number;
}

export type Answer = (res: ServerResponse, req: IncomingMessage) => void;

export class ScriptedServer {
  readonly requests: SeenRequest[] = [];
  url = '';
  readonly #server: Server;
  #answers: Answer[] = [];
  readonly #sockets = new Set<Socket>();

  private constructor(server: Server) {
    this.#server = server;
    // Never close an idle connection from this side: only the client's close() may end it.
    server.keepAliveTimeout = 0;
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    server.on('secureConnection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString(), port: req.socket.remotePort! });
        const answer = this.#answers.shift() ?? text(599, 'text/plain', 'unscripted request');
        answer(res, req);
      });
    });
  }

  static async start(tls?: { cert: string; key: string }): Promise<ScriptedServer> {
    const server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }) : createHttpServer();
    const scripted = new ScriptedServer(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    scripted.url = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    return scripted;
  }

  /** Answers the next requests with these, in turn. */
  answer(...answers: Answer[]): void {
    this.#answers.push(...answers);
  }

  /** Forgets requests and unused answers. */
  clear(): void {
    this.requests.length = 0;
    this.#answers = [];
  }

  /** Open connections the server sees (kept alive by the client or not yet closed). */
  get openSockets(): number {
    return this.#sockets.size;
  }

  /** Resolves once every connection the client holds is closed. */
  async connectionsClosed(): Promise<void> {
    await Promise.all([...this.#sockets].map((s) => (s.destroyed ? undefined : new Promise((resolve) => s.once('close', resolve)))));
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** A body of any content type (none when `contentType` is empty). */
export const text = (status: number, contentType: string, body: string, headers: Record<string, string> = {}): Answer => (res) => {
  res.writeHead(status, { ...(contentType && { 'content-type': contentType }), 'content-length': String(Buffer.byteLength(body)), ...headers }).end(body);
};

export const json = (status: number, body: unknown, headers: Record<string, string> = {}): Answer => text(status, 'application/json', JSON.stringify(body), headers);

/** Crowd's JSON ErrorEntity. */
export const refusal = (status: number, reason: string, message: string, headers: Record<string, string> = {}): Answer => json(status, { reason, message }, headers);

export const xml = (status: number, body: string, contentType = 'application/xml'): Answer => text(status, contentType, body);

export const noContent: Answer = (res) => res.writeHead(204).end();

/** The connection drops before any reply. */
export const reset: Answer = (res) => res.socket?.destroy();

/** No reply at all (until the client gives up). */
export const hang: Answer = () => undefined;

/** Headers promise more than arrives: the connection drops mid-body. */
export const cutOff = (status: number, contentType: string, part: string): Answer => (res) => {
  res.writeHead(status, { 'content-type': contentType, 'content-length': String(Buffer.byteLength(part) + 100) });
  res.write(part, () => res.socket?.destroy());
};
