import { readFile } from 'node:fs/promises';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import { GraphClientError } from '@microsoft/microsoft-graph-client';
import { ConfigurationError, TransientError, type SyncError } from '../../shared/errors.js';
import { redactText } from '../../shared/redact.js';
import { TLS_CODES, transportCode } from '../runtime/http-failures.js';
import type { PermissionView } from './errors.js';

/**
 * The app's credential for the client-credentials flow (reference §1): a secret or a
 * certificate, an https authority and `disableInstanceDiscovery` (offline authorities and
 * sovereign clouds are unknown to MSAL's instance discovery). Token failures are
 * classified here, because @azure/identity reports a bad secret, an unknown tenant and an
 * unreachable authority through the same two error classes.
 */

export const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';

export interface CredentialSettings {
  tenantId: string;
  clientId: string;
  clientSecret: string | undefined;
  /** PEM with the certificate and its private key. */
  clientCertificatePath: string | undefined;
  /** https only; @azure/identity refuses anything else. */
  authorityHost: string;
  /** For the discovery probe that explains an unresolvable authority. */
  timeoutMs: number;
}

/** A token failure carried through graph-client's middleware chain unchanged (it rethrows GraphClientErrors as they are). */
export class TokenFailure extends GraphClientError {
  constructor(readonly error: SyncError) {
    super(error.message);
    // GraphClientError's constructor resets the prototype to its own; restore ours.
    Object.setPrototypeOf(this, new.target.prototype);
    this.name = 'TokenFailure';
  }
}

/** Reads and checks the certificate file once, at start-up, so a typo fails loudly there. */
export async function checkCertificateFile(path: string): Promise<void> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ENTRA_CLIENT_CERTIFICATE_PATH ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!/-----BEGIN CERTIFICATE-----/.test(pem) || !/-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(pem)) {
    throw new Error(`ENTRA_CLIENT_CERTIFICATE_PATH ${path} must be a PEM file holding both the certificate and its private key`);
  }
}

/**
 * One credential instance (so MSAL's token cache works) that classifies failures, remembers
 * the roles of the token in use, and can be renewed: a fresh instance has an empty cache,
 * which is how a probe sees permissions granted after the cached token was issued.
 */
export class AppCredential implements TokenCredential, PermissionView {
  readonly #settings: CredentialSettings;
  #inner: Promise<TokenCredential> | undefined;
  #claims: { token: string; roles: ReadonlySet<string> | undefined } | undefined;

  constructor(settings: CredentialSettings) {
    if (!settings.clientCertificatePath && !settings.clientSecret) throw new Error('the entra target needs ENTRA_CLIENT_SECRET or ENTRA_CLIENT_CERTIFICATE_PATH');
    this.#settings = settings;
  }

  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    let token: AccessToken | null;
    try {
      token = await (await (this.#inner ??= this.#create())).getToken(scopes, options);
    } catch (err) {
      throw new TokenFailure(await this.#classify(err));
    }
    if (!token) throw new TokenFailure(new TransientError('Entra returned no access token'));
    if (this.#claims?.token !== token.token) this.#claims = { token: token.token, roles: rolesOf(token.token) };
    return token;
  }

  roles(): ReadonlySet<string> | undefined {
    return this.#claims?.roles;
  }

  /** Drops the cached token: the next request asks Entra again. */
  renew(): void {
    this.#inner = undefined;
    this.#claims = undefined;
  }

  // Loaded on the first token request: @azure/identity takes about a second to import, which
  // every command and every process without an Entra target would otherwise pay.
  async #create(): Promise<TokenCredential> {
    const { ClientCertificateCredential, ClientSecretCredential } = await import('@azure/identity');
    const s = this.#settings;
    const options = { authorityHost: s.authorityHost, disableInstanceDiscovery: true };
    if (s.clientCertificatePath) return new ClientCertificateCredential(s.tenantId, s.clientId, { certificatePath: s.clientCertificatePath }, options);
    return new ClientSecretCredential(s.tenantId, s.clientId, s.clientSecret!, options);
  }

  async #classify(err: unknown): Promise<SyncError> {
    const s = this.#settings;
    const name = String((err as { name?: unknown })?.name ?? '');
    const message = redactText(err instanceof Error ? err.message : String(err));
    const aadsts = /AADSTS(\d+): ([^\r\n]*)/.exec(message);
    const code = aadsts ? Number(aadsts[1]) : undefined;
    const said = aadsts ? `AADSTS${aadsts[1]}: ${aadsts[2]!.trim()}` : message.split(/\r?\n/)[0]!;
    const which = s.clientCertificatePath ? 'ENTRA_CLIENT_CERTIFICATE_PATH (the certificate must be registered on the app)' : 'ENTRA_CLIENT_SECRET (the secret value, not its id)';
    if (code === 7000215 || code === 7000222 || code === 700027 || code === 700024 || code === 700021 || code === 700212 || /invalid_client/.test(message)) {
      return new ConfigurationError(`Entra rejected the credentials of app ${s.clientId} (${said}); check ${which}`, { code: 'invalid_client' });
    }
    if (code === 700016 || /unauthorized_client/.test(message)) {
      return new ConfigurationError(`Entra does not know app ${s.clientId} in tenant ${s.tenantId} (${said}); check ENTRA_CLIENT_ID and ENTRA_TENANT_ID`, { code: 'unauthorized_client' });
    }
    if (code === 90002 || /invalid_tenant/.test(message)) {
      return new ConfigurationError(`Entra does not know tenant ${s.tenantId} (${said}); check ENTRA_TENANT_ID`, { code: 'invalid_tenant' });
    }
    if (s.clientCertificatePath && /ENOENT|EACCES|EISDIR|PEM|private key/i.test(message)) {
      return new ConfigurationError(`cannot use the certificate of app ${s.clientId} (${said}); check ENTRA_CLIENT_CERTIFICATE_PATH`, { code: 'certificate' });
    }
    if (/invalid_scope|invalid_resource|invalid_request|unsupported_grant_type/.test(message)) {
      return new ConfigurationError(`Entra refused the token request of app ${s.clientId} (${said}); check ENTRA_AUTHORITY_HOST and the app registration`, { code: 'invalid_request' });
    }
    if (name === 'CredentialUnavailableError' && /endpoints_resolution_error/.test(message)) return this.#diagnoseAuthority(said);
    return new TransientError(`Entra did not issue a token for app ${s.clientId}: ${said}`, { code: 'token_unavailable' });
  }

  /**
   * MSAL says only "endpoints_resolution_error" when the authority's metadata cannot be
   * read: an unknown tenant, a wrong host, an untrusted certificate and a network outage
   * look the same. One plain request to the same document tells them apart.
   */
  async #diagnoseAuthority(said: string): Promise<SyncError> {
    const s = this.#settings;
    const url = `${s.authorityHost.replace(/\/+$/, '')}/${encodeURIComponent(s.tenantId)}/v2.0/.well-known/openid-configuration`;
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(s.timeoutMs) });
    } catch (err) {
      const code = transportCode(err);
      // The Graph client's own list, and any other certificate code (CERT_REVOKED, CERT_NOT_YET_VALID…).
      if (TLS_CODES.has(code) || code.includes('CERT')) {
        return new ConfigurationError(`Cannot reach the Entra authority ${s.authorityHost}: ${code}; check ENTRA_AUTHORITY_HOST and the TLS trust store (NODE_EXTRA_CA_CERTS)`, { code });
      }
      return new TransientError(`Cannot reach the Entra authority ${s.authorityHost}: ${code || (err as Error).name}`, { code: code || 'ECONNECT' });
    }
    const text = await res.text().catch(() => '');
    if (/invalid_tenant|AADSTS90002/.test(text)) {
      return new ConfigurationError(`Entra does not know tenant ${s.tenantId} (AADSTS90002); check ENTRA_TENANT_ID`, { code: 'invalid_tenant', status: res.status });
    }
    if (res.status >= 500) return new TransientError(`The Entra authority ${s.authorityHost} failed (${res.status})`, { status: res.status });
    if (!res.ok || !/token_endpoint/.test(text)) {
      return new ConfigurationError(`The Entra authority ${s.authorityHost} has no OpenID configuration for tenant ${s.tenantId} (${res.status}); check ENTRA_AUTHORITY_HOST and ENTRA_TENANT_ID`, { status: res.status });
    }
    return new TransientError(`Entra did not issue a token for app ${s.clientId}: ${said}`, { code: 'endpoints_resolution_error' });
  }
}

/** The `roles` claim of an access token, or undefined when the token is not a readable JWT. */
export function rolesOf(token: string): ReadonlySet<string> | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const roles = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { roles?: unknown }).roles;
    return new Set(Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : []);
  } catch {
    return undefined;
  }
}
