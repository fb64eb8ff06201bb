import { ClientSecretCredential, type TokenCredential } from '@azure/identity';
import { Client, type Middleware } from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js';
import { startEntraEmulator, type EntraEmulator, type EntraEmulatorOptions } from '../../../emulators/entra/index.js';

export const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';
export const DOMAIN = 'idsyncdev.onmicrosoft.com';
export const PASSWORD = 'Str0ng!Passw0rd';

/** Every test file starts its own emulator on a free port; the CA is the shared, stable one. */
export function startTestEmulator(options: EntraEmulatorOptions = {}): Promise<EntraEmulator> {
  return startEntraEmulator({ port: 0, ...options });
}

export function secretCredential(emu: EntraEmulator, clientId = emu.info.clientId, secret = emu.info.clientSecret, tenantId = emu.info.tenantId): ClientSecretCredential {
  return new ClientSecretCredential(tenantId, clientId, secret, { authorityHost: emu.info.authorityHost, disableInstanceDiscovery: true });
}

/** The unmodified Graph SDK, pointed at the emulator exactly as the worker will be. */
export function graphClient(emu: EntraEmulator, credential: TokenCredential = secretCredential(emu)): Client {
  return Client.initWithMiddleware({
    authProvider: new TokenCredentialAuthenticationProvider(credential, { scopes: [GRAPH_SCOPE] }),
    baseUrl: emu.info.graphBaseUrl,
    customHosts: new Set([new URL(emu.info.graphBaseUrl).hostname]),
  });
}

/** A Graph client without the retry handler, for asserting raw 429/503 answers. */
export function graphClientWithMiddleware(emu: EntraEmulator, middleware: Middleware[]): Client {
  return Client.initWithMiddleware({ middleware, baseUrl: emu.info.graphBaseUrl, customHosts: new Set([new URL(emu.info.graphBaseUrl).hostname]) });
}

export interface RawResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

/** Plain fetch with a bearer token, to look at headers and bodies the SDK hides. */
export async function rawGraph(
  emu: EntraEmulator,
  method: string,
  path: string,
  options: { body?: unknown; headers?: Record<string, string>; token?: string | null; credential?: TokenCredential } = {},
): Promise<RawResponse> {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token;
  if (token !== null) {
    headers.authorization = `Bearer ${token ?? (await (options.credential ?? sharedCredential(emu)).getToken(GRAPH_SCOPE))?.token ?? ''}`;
  }
  let body: string | Buffer | undefined;
  if (Buffer.isBuffer(options.body)) body = options.body;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const url = path.startsWith('https://') ? path : `${emu.info.graphBaseUrl}v1.0${path}`;
  const res = await fetch(url, { method, headers, body });
  const type = res.headers.get('content-type') ?? '';
  const parsed = type.includes('json') ? await res.json() : type.startsWith('image/') ? Buffer.from(await res.arrayBuffer()) : await res.text();
  return { status: res.status, headers: res.headers, body: parsed };
}

const credentials = new WeakMap<EntraEmulator, TokenCredential>();
function sharedCredential(emu: EntraEmulator): TokenCredential {
  let c = credentials.get(emu);
  if (!c) credentials.set(emu, (c = secretCredential(emu)));
  return c;
}

export function newUser(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    accountEnabled: true,
    displayName: `User ${name}`,
    mailNickname: name,
    userPrincipalName: `${name}@${DOMAIN}`,
    passwordProfile: { password: PASSWORD, forceChangePasswordNextSignIn: false },
    ...extra,
  };
}

/** What graph-client throws: GraphError with statusCode, code, body, headers. */
export interface GraphErrorLike {
  statusCode: number;
  code: string;
  message: string;
  requestId: string | null;
  body: string;
  headers?: Headers;
}

export async function graphError(p: Promise<unknown>): Promise<GraphErrorLike> {
  try {
    await p;
  } catch (e) {
    return e as GraphErrorLike;
  }
  throw new Error('expected the Graph call to fail');
}
