import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

export const SECRET = 'test-webhook-secret-0123456789';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** The client's port: equal ports mean one kept-alive connection. */
  port: number;
}

export type Handler = (req: SeenRequest, res: ServerResponse) => void;

/** A receiver that answers whatever the test tells it to, and records what it was sent. */
export interface BrokenReceiver {
  url: string;
  requests: SeenRequest[];
  /** Answers every request that no queued handler is left for. */
  answer(handler: Handler): void;
  /** Answers the next requests with these, in turn, before falling back to `answer`'s handler. */
  queue(...handlers: Handler[]): void;
  /** Forgets requests and unused queued handlers. */
  clear(): void;
  /** Open connections the server sees (kept alive by the client or not yet closed). */
  readonly openSockets: number;
  /** Resolves once every connection the client holds is closed. */
  connectionsClosed(): Promise<void>;
  close(): Promise<void>;
}

export interface BrokenReceiverOptions {
  /** Serve HTTPS with this certificate. */
  tls?: { cert: string; key: string };
  /** Never close an idle connection from this side, so only the client's close() ends it. */
  holdIdleConnections?: boolean;
}

export async function startBrokenReceiver(options: BrokenReceiverOptions = {}): Promise<BrokenReceiver> {
  let handler: Handler = (_req, res) => void res.writeHead(500).end();
  let queued: Handler[] = [];
  const requests: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), port: req.socket.remotePort ?? 0 };
      requests.push(seen);
      (queued.shift() ?? handler)(seen, res);
    });
  };
  const server: Server = options.tls ? createHttpsServer(options.tls, onRequest) : createServer(onRequest);
  if (options.holdIdleConnections) server.keepAliveTimeout = 0;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };
  server.on(options.tls ? 'secureConnection' : 'connection', track);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}/hook`,
    requests,
    answer: (h) => {
      handler = h;
    },
    queue: (...handlers) => {
      queued.push(...handlers);
    },
    clear: () => {
      requests.length = 0;
      queued = [];
    },
    get openSockets() {
      return sockets.size;
    },
    connectionsClosed: async () => {
      await Promise.all([...sockets].map((s) => (s.destroyed ? undefined : new Promise((resolve) => s.once('close', resolve)))));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  void res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));

// Handlers for `queue` and `answer`.

/** A body of any content type (none when `contentType` is empty), with its length and no Date header. */
export const send =
  (status: number, contentType: string, body: string, headers: Record<string, string> = {}): Handler =>
  (_req, res) => {
    res.sendDate = false;
    res.writeHead(status, { ...(contentType && { 'content-type': contentType }), 'content-length': String(Buffer.byteLength(body)), ...headers }).end(body);
  };

export const sendJson = (status: number, body: unknown, headers: Record<string, string> = {}): Handler => send(status, 'application/json', JSON.stringify(body), headers);

/** The connection drops before any reply. */
export const hangUp: Handler = (_req, res) => void res.socket?.destroy();

/** No reply at all (until the client gives up). */
export const silence: Handler = () => undefined;

/** Headers promise more than arrives: the connection drops mid-body. */
export const cutOff =
  (status: number, contentType: string, part: string): Handler =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': contentType, 'content-length': String(Buffer.byteLength(part) + 100) });
    res.write(part, () => res.socket?.destroy());
  };
