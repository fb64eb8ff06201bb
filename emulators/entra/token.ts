import { randomUUID } from 'node:crypto';
import { USER_ADMINISTRATOR_ROLE, type App } from './apps.js';
import type { Core } from './core.js';
import { AadstsError, aadstsBody, formatSeconds } from './errors.js';
import { decodeJwt, encodeJwt, verifyJwt } from './jwt.js';

export const GRAPH_RESOURCE = 'https://graph.microsoft.com';
export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Entra tolerates five minutes of clock skew on client assertions. */
const SKEW_SECONDS = 300;

export interface AuthorityRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: Buffer;
  origin: string;
}

export interface AuthorityResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store, no-cache' };

/** Returns undefined when the path is not an authority endpoint. */
export function handleAuthority(core: Core, req: AuthorityRequest): AuthorityResponse | undefined {
  const m = /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|oauth2\/v2\.0\/token|discovery\/v2\.0\/keys)\/?$/.exec(req.path);
  if (!m) return undefined;
  const [, tenantSegment, endpoint] = m as unknown as [string, string, string];
  const traceId = randomUUID();
  const correlationId = req.headers['client-request-id'] ?? req.query.get('client-request-id') ?? randomUUID();
  const headers = { ...JSON_HEADERS, 'x-ms-request-id': traceId, 'client-request-id': correlationId };
  try {
    if (endpoint.startsWith('oauth2')) core.stats.tokenRequests++;
    const tenant = resolveTenant(core, decodeURIComponent(tenantSegment));
    if (endpoint.startsWith('v2.0')) {
      if (req.method !== 'GET') throw new AadstsError(405, 'invalid_request', 900561, 'The endpoint only accepts GET requests.');
      return { status: 200, headers, body: openIdConfiguration(req.origin, tenantSegment, tenant) };
    }
    if (endpoint.startsWith('discovery')) return { status: 200, headers, body: jwks(core) };
    if (req.method !== 'POST') throw new AadstsError(405, 'invalid_request', 900561, 'The endpoint only accepts POST requests.');
    if (core.faults.tokenFailNext > 0) {
      core.faults.tokenFailNext--;
      core.stats.faultsInjected++;
      const after = core.faults.faultRetryAfterSeconds;
      const retry: Record<string, string> = after === null ? {} : { 'Retry-After': formatSeconds(core.clock.scaled(after) / 1000) };
      throw new AadstsError(503, 'temporarily_unavailable', 90033, 'A transient error has occurred. Please try again.', retry);
    }
    return { status: 200, headers, body: issueToken(core, req, tenantSegment, tenant) };
  } catch (err) {
    if (!(err instanceof AadstsError)) throw err;
    return { status: err.status, headers: { ...headers, ...err.headers }, body: aadstsBody(err, traceId, correlationId, new Date(core.clock.now())) };
  }
}

/** The tenant id or any verified domain name addresses the tenant. */
function resolveTenant(core: Core, segment: string): string {
  const lower = segment.toLowerCase();
  if (lower === core.tenantId || core.directory.verifiedDomain(lower)) return core.tenantId;
  throw new AadstsError(
    400,
    'invalid_tenant',
    90002,
    `Tenant '${segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
  );
}

function openIdConfiguration(origin: string, segment: string, tenantId: string): Record<string, unknown> {
  const base = `${origin}/${segment}`;
  return {
    token_endpoint: `${base}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${origin}/${tenantId}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: `${origin}/${tenantId}/v2.0`,
    request_uri_parameter_supported: false,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'tid', 'oid', 'roles'],
    tenant_region_scope: 'EU',
    cloud_instance_name: 'microsoftonline.com',
    msgraph_host: 'graph.microsoft.com',
  };
}

function jwks(core: Core): Record<string, unknown> {
  const jwk = core.signingKey.publicKey.export({ format: 'jwk' });
  return { keys: [{ kty: 'RSA', use: 'sig', kid: core.signingKey.kid, n: jwk.n, e: jwk.e }] };
}

function issueToken(core: Core, req: AuthorityRequest, segment: string, tenantId: string): Record<string, unknown> {
  const contentType = req.headers['content-type'] ?? '';
  if (!contentType.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    throw new AadstsError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'.");
  }
  const form = new URLSearchParams(req.body.toString('utf8'));
  const required = (name: string): string => {
    const v = form.get(name);
    if (!v) throw new AadstsError(400, 'invalid_request', 900144, `The request body must contain the following parameter: '${name}'.`);
    return v;
  };
  const grantType = required('grant_type');
  if (grantType !== 'client_credentials') {
    throw new AadstsError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType}'.`);
  }
  // client_secret_basic (RFC 6749 §2.3.1): the id and secret, each form-encoded, in a Basic header.
  const basic = basicClient(req.headers.authorization);
  const clientId = form.get('client_id') || basic?.clientId || required('client_id');
  const scope = required('scope');
  const app = core.apps.get(clientId);
  if (!app) {
    throw new AadstsError(
      400,
      'unauthorized_client',
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
    );
  }
  checkScope(scope, tenantId);
  const assertion = form.get('client_assertion');
  const secret = form.get('client_secret') || (assertion ? null : basic?.secret);
  let appidacr: '1' | '2';
  if (secret) {
    if (app.expiredSecrets.has(secret)) {
      throw new AadstsError(
        401,
        'invalid_client',
        7000222,
        `The provided client secret keys for app '${app.clientId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`,
      );
    }
    if (!app.secrets.has(secret)) {
      throw new AadstsError(
        401,
        'invalid_client',
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`,
      );
    }
    appidacr = '1';
  } else if (assertion) {
    if (form.get('client_assertion_type') !== ASSERTION_TYPE) {
      throw new AadstsError(400, 'invalid_request', 50027, "Invalid client_assertion_type. It must be 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.");
    }
    const audiences = [`${req.origin}/${segment}/oauth2/v2.0/token`, `${req.origin}/${tenantId}/oauth2/v2.0/token`];
    checkAssertion(core, app, assertion, audiences);
    appidacr = '2';
  } else {
    throw new AadstsError(401, 'invalid_client', 7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.");
  }
  core.stats.tokensIssued++;
  const lifetime = core.accessTokenLifetimeSeconds;
  return {
    token_type: 'Bearer',
    expires_in: lifetime,
    ext_expires_in: lifetime,
    access_token: accessToken(core, app, tenantId, appidacr),
  };
}

/** The id and secret of an `Authorization: Basic` header; undefined when there is none. */
function basicClient(header: string | undefined): { clientId: string; secret: string } | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const formDecode = (v: string): string => {
    try {
      return decodeURIComponent(v.replace(/\+/g, ' '));
    } catch {
      return v;
    }
  };
  return { clientId: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
}

/** A scope without a resource (`User.Read`) is read as one of Graph's, Entra's default resource. */
const qualified = (s: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(s) || /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\//i.test(s);

function checkScope(scope: string, tenantId: string): void {
  const scopes = scope.split(' ').filter(Boolean);
  const graph = scopes.every((s) => !qualified(s) || /^(https:\/\/graph\.microsoft\.com\/?|00000003-0000-0000-c000-000000000000\/)/i.test(s));
  if (!graph) {
    const resource = scopes.find((s) => qualified(s) && !s.toLowerCase().startsWith(GRAPH_RESOURCE)) ?? scope;
    throw new AadstsError(
      400,
      'invalid_resource',
      500011,
      `The resource principal named ${resource.replace(/\/\.default$/, '')} was not found in the tenant named ${tenantId}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
    );
  }
  if (scopes.length !== 1 || !/\/\.default$/i.test(scopes[0]!)) {
    throw new AadstsError(
      400,
      'invalid_scope',
      1002012,
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    );
  }
}

/** The certificate assertion MSAL builds: PS256 with x5t#S256 (RS256 with SHA-1 x5t from older MSALs). */
function checkAssertion(core: Core, app: App, assertion: string, audiences: string[]): void {
  const jwt = decodeJwt(assertion);
  if (!jwt) throw new AadstsError(400, 'invalid_request', 50027, 'JWT token is invalid or malformed.');
  const { header, payload } = jwt;
  const thumbprint = typeof header['x5t#S256'] === 'string' ? header['x5t#S256'] : typeof header.x5t === 'string' ? header.x5t : undefined;
  const cert = app.certificates.find((c) => c.x5tS256 === thumbprint || c.x5t === thumbprint);
  if (!cert) {
    const hex = thumbprint ? Buffer.from(thumbprint, 'base64url').toString('hex').toUpperCase() : '';
    throw new AadstsError(
      401,
      'invalid_client',
      700027,
      `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${hex}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${app.clientId}'.]`,
    );
  }
  if (!verifyJwt(jwt, cert.publicKey)) {
    throw new AadstsError(401, 'invalid_client', 700027, 'Client assertion failed signature validation.');
  }
  if (payload.iss !== app.clientId || payload.sub !== app.clientId) {
    throw new AadstsError(401, 'invalid_client', 700021, "Client assertion application identifier doesn't match 'client_id' parameter.");
  }
  const aud = typeof payload.aud === 'string' ? payload.aud : '';
  if (!audiences.some((a) => a.toLowerCase() === aud.toLowerCase())) {
    throw new AadstsError(401, 'invalid_client', 700212, `Client assertion audience claim does not match Realm issuer. Audience: '${aud}'.`);
  }
  const now = Math.floor(core.clock.now() / 1000);
  const exp = typeof payload.exp === 'number' ? payload.exp : 0;
  const nbf = typeof payload.nbf === 'number' ? payload.nbf : 0;
  if (exp + SKEW_SECONDS < now || nbf - SKEW_SECONDS > now) {
    throw new AadstsError(
      401,
      'invalid_client',
      700024,
      `Client assertion is not within its valid time range. Current time: ${new Date(now * 1000).toISOString()}, assertion valid from ${new Date(nbf * 1000).toISOString()}, expiry time of assertion ${new Date(exp * 1000).toISOString()}.`,
    );
  }
}

function accessToken(core: Core, app: App, tenantId: string, appidacr: '1' | '2'): string {
  const now = Math.floor(core.clock.now() / 1000);
  const issuer = `https://sts.windows.net/${tenantId}/`;
  const payload: Record<string, unknown> = {
    aud: GRAPH_RESOURCE,
    iss: issuer,
    iat: now,
    nbf: now,
    exp: now + core.accessTokenLifetimeSeconds,
    app_displayname: app.displayName,
    appid: app.clientId,
    appidacr,
    idp: issuer,
    idtyp: 'app',
    oid: app.servicePrincipalId,
    roles: app.roles,
    sub: app.servicePrincipalId,
    tid: tenantId,
    uti: randomUUID().replace(/-/g, '').slice(0, 22),
    ver: '1.0',
  };
  if (app.passwordAdministrator) payload.wids = [USER_ADMINISTRATOR_ROLE];
  return encodeJwt({ typ: 'JWT', alg: 'RS256', kid: core.signingKey.kid }, payload, core.signingKey.privateKey);
}
