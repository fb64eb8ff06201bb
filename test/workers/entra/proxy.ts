// An HTTPS proxy in front of the emulator's Graph endpoint, for what the emulator cannot
// show or produce: it records every request (so a test can see exactly what was PATCHed
// inside a $batch) and can replace the next matching response with an HTML page or a
// cut-off body, as a captive portal or a broken middlebox would. Its certificate comes
// from the emulator's CA, which the test process already trusts (NODE_EXTRA_CA_CERTS).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { issueServerCertificate, loadOrCreateAuthority, type IssuedCertificate } from '../../../emulators/entra/certificates.js';
import type { EntraEmulator } from '../../../emulators/entra/index.js';

export interface RecordedRequest {
  method: string;
  /** Path and query as sent, e.g. `/v1.0/$batch`. */
  url: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

type Corruption = { kind: 'html' | 'truncated'; match: (method: string, url: string) => boolean };

export class GraphProxy {
  readonly requests: RecordedRequest[] = [];
  readonly #server: Server;
  readonly #upstream: URL;
  #corruptions: Corruption[] = [];
  #baseUrl = '';

  private constructor(tls: IssuedCertificate, upstream: URL) {
    this.#upstream = upstream;
    this.#server = createServer({ cert: tls.certificatePem, key: tls.privateKeyPem }, (req, res) => this.#handle(req, res));
  }

  static async start(em: EntraEmulator): Promise<GraphProxy> {
    const tls = await issueServerCertificate(await loadOrCreateAuthority('.idsync/entra'));
    const proxy = new GraphProxy(tls, new URL(em.info.graphBaseUrl));
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    proxy.#baseUrl = `https://127.0.0.1:${(proxy.#server.address() as AddressInfo).port}/`;
    return proxy;
  }

  /** Point GRAPH_BASE_URL here. */
  get graphBaseUrl(): string {
    return this.#baseUrl;
  }

  /** The next response to a matching request is replaced. */
  corruptNext(kind: Corruption['kind'], match: Corruption['match'] = () => true): void {
    this.#corruptions.push({ kind, match });
  }

  /** The items of every `$batch` sent so far, in order. */
  batchItems(): { method: string; url: string; body?: Record<string, unknown> }[] {
    return this.requests.filter((r) => r.url.startsWith('/v1.0/$batch')).flatMap((r) => r.json.requests);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const method = req.method ?? 'GET';
      const url = req.url ?? '/';
      this.requests.push({ method, url, json: body.length ? safeJson(body) : undefined });
      // The Host header passes through, so the emulator's nextLinks point back at the proxy.
      const out = request({ host: this.#upstream.hostname, port: this.#upstream.port, method, path: url, headers: req.headers }, (up) => {
        const got: Buffer[] = [];
        up.on('data', (c: Buffer) => got.push(c));
        up.on('end', () => this.#answer(res, method, url, up.statusCode ?? 502, { ...up.headers }, Buffer.concat(got)));
      });
      out.on('error', () => res.destroy());
      out.end(body);
    });
  }

  #answer(res: ServerResponse, method: string, url: string, status: number, headers: Record<string, string | string[] | undefined>, data: Buffer): void {
    const i = this.#corruptions.findIndex((c) => c.match(method, url));
    const corruption = i < 0 ? undefined : this.#corruptions.splice(i, 1)[0];
    delete headers['content-length'];
    delete headers['transfer-encoding'];
    if (corruption?.kind === 'html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body><form>…</form></body></html>');
    } else if (corruption?.kind === 'truncated') {
      res.writeHead(status, headers);
      res.end(data.subarray(0, Math.floor(data.length / 2)));
    } else {
      res.writeHead(status, headers);
      res.end(data);
    }
  }
}

function safeJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
