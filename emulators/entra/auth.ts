import type { Core } from './core.js';
import { GraphError } from './errors.js';
import { decodeJwt, verifyJwt } from './jwt.js';
import type { AuthContext } from './permissions.js';
import { GRAPH_APP_ID, GRAPH_RESOURCE } from './token.js';

const WWW_AUTHENTICATE = `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="${GRAPH_APP_ID}"`;

const unauthorized = (message: string): GraphError =>
  new GraphError(401, 'InvalidAuthenticationToken', message, undefined, { 'WWW-Authenticate': WWW_AUTHENTICATE });

/** Checks the bearer token the way Graph does: signature, audience, tenant, lifetime. */
export function authenticate(core: Core, authorization: string | undefined): AuthContext {
  const m = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
  if (!m) throw unauthorized('Access token is empty.');
  const jwt = decodeJwt(m[1]!.trim());
  if (!jwt) throw unauthorized('CompactToken parsing failed with error code: 80049217');
  const { payload } = jwt;
  if (jwt.header.alg !== 'RS256' || !verifyJwt(jwt, core.signingKey.publicKey)) {
    throw unauthorized('Access token validation failure.');
  }
  if (payload.aud !== GRAPH_RESOURCE && payload.aud !== `${GRAPH_RESOURCE}/` && payload.aud !== GRAPH_APP_ID) {
    throw unauthorized('Access token validation failure. Invalid audience.');
  }
  if (payload.tid !== core.tenantId) throw unauthorized('Access token validation failure.');
  const now = Math.floor(core.clock.now() / 1000);
  const exp = typeof payload.exp === 'number' ? payload.exp : 0;
  const nbf = typeof payload.nbf === 'number' ? payload.nbf : 0;
  if (now >= exp || now < nbf - 300) throw unauthorized('Access token has expired or is not yet valid.');
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  return {
    appId: typeof payload.appid === 'string' ? payload.appid : '',
    tenantId: core.tenantId,
    roles: new Set(strings(payload.roles)),
    wids: new Set(strings(payload.wids)),
  };
}
