// The app's token credential against a scripted authority: what it asks Entra for, the roles it
// remembers, how renewing empties the cache, and the exact error each token failure becomes.
// Operators act on these messages, so every classification is pinned in full.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphClientError } from '@microsoft/microsoft-graph-client';
import { ConfigurationError, TransientError, type SyncError } from '../../../shared/errors.js';
import { createClientCertificate, issueServerCertificate, loadOrCreateAuthority } from '../../../emulators/entra/certificates.js';
import { AppCredential, GRAPH_SCOPE, TokenFailure, checkCertificateFile, rolesOf, type CredentialSettings } from '../../../workers/entra/credentials.js';
import { ScriptedHttps, cutOff, json, silence, text, type Answer } from './scripted-https.js';

const TENANT = 'ten-1';
const CLIENT = 'cid-1';
const OIDC_PATH = `/${TENANT}/v2.0/.well-known/openid-configuration`;
const TOKEN_PATH = `/${TENANT}/oauth2/v2.0/token`;
const MSAL_FAILED = 'endpoints_resolution_error: See https://aka.ms/msal.js.errors#endpoints_resolution_error for details';

// One RSA certificate for the file: generating one takes a noticeable part of a second.
let appCert: Awaited<ReturnType<typeof createClientCertificate>>;
beforeAll(async () => {
  appCert = await createClientCertificate();
});

const jwt = (payload: unknown): string => `h.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.s`;

/** The authority's metadata document, as Entra serves it. */
const metadata = (origin: string): Answer =>
  json(200, {
    token_endpoint: `${origin}${TOKEN_PATH}`,
    issuer: `${origin}/${TENANT}/v2.0`,
    authorization_endpoint: `${origin}/${TENANT}/oauth2/v2.0/authorize`,
    jwks_uri: `${origin}/${TENANT}/discovery/v2.0/keys`,
    end_session_endpoint: `${origin}/${TENANT}/oauth2/v2.0/logout`,
  });

const issued = (accessToken: string): Answer => json(200, { token_type: 'Bearer', expires_in: 3599, access_token: accessToken });

/** An error reply of the token endpoint, in Entra's shape. */
const refused = (error: string, description: string, status = 400): Answer => json(status, { error, error_description: description });

async function rejection(promise: Promise<unknown>): Promise<TokenFailure> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokenFailure);
  return err as TokenFailure;
}

/** [class, message, code, status] of a classified failure. */
const shape = (e: SyncError) => [e.constructor.name, e.message, e.code, e.status];

describe('rolesOf', () => {
  it('reads the roles claim of a JWT, keeping only strings', () => {
    expect(rolesOf(jwt({ roles: ['User.ReadWrite.All', 'Group.Read.All'] }))).toEqual(new Set(['User.ReadWrite.All', 'Group.Read.All']));
    expect(rolesOf(jwt({ roles: ['A', 7, null, { r: 'B' }, 'C'] }))).toEqual(new Set(['A', 'C']));
  });

  it('takes a readable token without roles as one holding none', () => {
    expect(rolesOf(jwt({ sub: 'x' }))).toEqual(new Set());
    expect(rolesOf(jwt({ roles: 'User.ReadWrite.All' }))).toEqual(new Set());
  });

  it('decodes the URL-safe alphabet', () => {
    // '>>>' and '???' encode to base64url characters '-' and '_' only.
    const token = jwt({ roles: ['>>>???'] });
    expect(token).toMatch(/[-_]/);
    expect(rolesOf(token)).toEqual(new Set(['>>>???']));
  });

  it('gives undefined for a token that is not a readable JWT', () => {
    for (const token of ['opaque-token', 'h..s', 'h.', `h.${Buffer.from('not json').toString('base64url')}.s`, `h.${Buffer.from('null').toString('base64url')}.s`]) {
      expect([token, rolesOf(token)]).toEqual([token, undefined]);
    }
  });
});

describe('checkCertificateFile', () => {
  let dir: string;
  let pem: { certificatePem: string; privateKeyPem: string };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'idsync-cert-'));
    pem = appCert;
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const file = async (name: string, content: string) => {
    const path = join(dir, name);
    await writeFile(path, content);
    return path;
  };

  it('accepts a PEM with the certificate and a private key of any common kind', async () => {
    const key = pem.privateKeyPem;
    await expect(checkCertificateFile(await file('both.pem', key + pem.certificatePem))).resolves.toBeUndefined();
    for (const kind of ['RSA ', 'EC ', 'ENCRYPTED ']) {
      const path = await file(`${kind.trim()}.pem`, pem.certificatePem + key.replace(/PRIVATE KEY/g, `${kind}PRIVATE KEY`));
      await expect(checkCertificateFile(path)).resolves.toBeUndefined();
    }
  });

  it('refuses a PEM without the certificate or without the key', async () => {
    const cases = [
      await file('cert-only.pem', pem.certificatePem),
      await file('key-only.pem', pem.privateKeyPem),
      await file('dsa.pem', pem.certificatePem + pem.privateKeyPem.replace(/PRIVATE KEY/g, 'DSA PRIVATE KEY')),
      await file('short.pem', pem.certificatePem + pem.privateKeyPem.replace(/-----BEGIN/, '----BEGIN')),
      await file('empty.pem', ''),
    ];
    for (const path of cases) {
      await expect(checkCertificateFile(path)).rejects.toThrow(
        new Error(`ENTRA_CLIENT_CERTIFICATE_PATH ${path} must be a PEM file holding both the certificate and its private key`),
      );
    }
  });

  it('names the file and the system error when it cannot be read', async () => {
    const missing = join(dir, 'missing.pem');
    await expect(checkCertificateFile(missing)).rejects.toThrow(new Error(`cannot read ENTRA_CLIENT_CERTIFICATE_PATH ${missing}: ENOENT`));
    await expect(checkCertificateFile(dir)).rejects.toThrow(new Error(`cannot read ENTRA_CLIENT_CERTIFICATE_PATH ${dir}: EISDIR`));
  });
});

describe('TokenFailure', () => {
  it('carries the classified error through graph-client', () => {
    const error = new ConfigurationError('bad secret', { code: 'invalid_client' });
    const failure = new TokenFailure(error);
    expect(failure).toBeInstanceOf(TokenFailure);
    expect(failure).toBeInstanceOf(GraphClientError);
    expect(failure.error).toBe(error);
    expect([failure.name, failure.message]).toEqual(['TokenFailure', 'bad secret']);
  });
});

describe('AppCredential', () => {
  let authority: ScriptedHttps;
  let dir: string;
  let certPath: string;
  beforeAll(async () => {
    [authority, dir] = await Promise.all([ScriptedHttps.start(), mkdtemp(join(tmpdir(), 'idsync-cred-'))]);
    certPath = join(dir, 'app.pem');
    await writeFile(certPath, appCert.pem);
  });
  afterAll(async () => {
    await authority.close();
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(() => authority.clear());

  const settings = (over: Partial<CredentialSettings> = {}): CredentialSettings => ({
    tenantId: TENANT,
    clientId: CLIENT,
    clientSecret: 's3cret-value',
    clientCertificatePath: undefined,
    authorityHost: authority.origin,
    timeoutMs: 2000,
    ...over,
  });

  /** The authority answers metadata requests itself and token requests with `token`. */
  const serve = (token: Answer) => {
    const meta = metadata(authority.origin);
    authority.otherwise((res, req) => (req.url!.includes('openid-configuration') ? meta(res, req) : token(res, req)));
  };

  const tokenForm = (i: number) => Object.fromEntries(new URLSearchParams(authority.requests[i]!.body));
  const paths = () => authority.requests.map((r) => `${r.method} ${r.url.split('?')[0]}`);

  /** The error a token request answered with `answer` becomes. */
  async function classified(answer: Answer, over: Partial<CredentialSettings> = {}): Promise<SyncError> {
    serve(answer);
    const failure = await rejection(new AppCredential(settings(over)).getToken(GRAPH_SCOPE));
    expect(failure.message).toBe(failure.error.message);
    return failure.error;
  }

  it('needs a secret or a certificate', () => {
    const message = 'the entra target needs ENTRA_CLIENT_SECRET or ENTRA_CLIENT_CERTIFICATE_PATH';
    expect(() => new AppCredential(settings({ clientSecret: undefined }))).toThrow(new Error(message));
    expect(() => new AppCredential(settings({ clientSecret: '', clientCertificatePath: '' }))).toThrow(new Error(message));
  });

  it('asks the configured authority for a client-credentials token with the secret', async () => {
    const token = jwt({ roles: ['User.ReadWrite.All'] });
    serve(issued(token));
    const credential = new AppCredential(settings());
    expect(credential.roles()).toBeUndefined();
    const got = await credential.getToken(GRAPH_SCOPE);
    expect(got.token).toBe(token);
    expect(got.expiresOnTimestamp).toBeGreaterThan(Date.now() + 3_500_000);
    // Only the tenant's own metadata: no instance discovery at login.microsoftonline.com.
    expect(paths()).toEqual([`GET ${OIDC_PATH}`, `POST ${TOKEN_PATH}`]);
    expect(tokenForm(1)).toMatchObject({ client_id: CLIENT, scope: GRAPH_SCOPE, grant_type: 'client_credentials', client_secret: 's3cret-value' });
    expect(tokenForm(1)).not.toHaveProperty('client_assertion');
    expect(credential.roles()).toEqual(new Set(['User.ReadWrite.All']));
  });

  it('passes the scopes and options through', async () => {
    serve(issued('opaque'));
    const credential = new AppCredential(settings());
    await credential.getToken(['https://example.test/.default']);
    expect(tokenForm(1).scope).toBe('https://example.test/.default');
    const failure = await rejection(credential.getToken(GRAPH_SCOPE, { tenantId: 'other-tenant' }));
    expect(shape(failure.error)).toEqual([
      'TransientError',
      `Entra did not issue a token for app ${CLIENT}: The current credential is not configured to acquire tokens for tenant other-tenant. To enable acquiring tokens for this tenant add it to the AdditionallyAllowedTenants on the credential options, or add "*" to AdditionallyAllowedTenants to allow acquiring tokens for any tenant.`,
      'token_unavailable',
      undefined,
    ]);
  });

  it('signs with the certificate when one is configured, even beside a secret', async () => {
    serve(issued('opaque'));
    await new AppCredential(settings({ clientCertificatePath: certPath })).getToken(GRAPH_SCOPE);
    const form = tokenForm(1);
    expect(form).toMatchObject({ client_id: CLIENT, grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' });
    expect(form.client_assertion).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(form).not.toHaveProperty('client_secret');
  });

  it('reuses the cached token until renewed, then asks Entra again and forgets the old roles', async () => {
    const first = jwt({ roles: ['User.Read.All'] });
    const second = jwt({ roles: ['User.ReadWrite.All'] });
    serve(issued(first));
    const credential = new AppCredential(settings());
    expect((await credential.getToken(GRAPH_SCOPE)).token).toBe(first);
    expect((await credential.getToken(GRAPH_SCOPE)).token).toBe(first);
    expect(paths()).toEqual([`GET ${OIDC_PATH}`, `POST ${TOKEN_PATH}`]);
    expect(credential.roles()).toEqual(new Set(['User.Read.All']));

    credential.renew();
    expect(credential.roles()).toBeUndefined();
    serve(issued(second));
    expect((await credential.getToken(GRAPH_SCOPE)).token).toBe(second);
    expect(paths()).toEqual([`GET ${OIDC_PATH}`, `POST ${TOKEN_PATH}`, `GET ${OIDC_PATH}`, `POST ${TOKEN_PATH}`]);
    expect(credential.roles()).toEqual(new Set(['User.ReadWrite.All']));
  });

  it('remembers no roles for a token that is not a JWT', async () => {
    serve(issued('opaque-token'));
    const credential = new AppCredential(settings());
    await credential.getToken(GRAPH_SCOPE);
    expect(credential.roles()).toBeUndefined();
  });

  describe('classifies token failures', () => {
    const SECRET_HINT = 'ENTRA_CLIENT_SECRET (the secret value, not its id)';
    const CERT_HINT = 'ENTRA_CLIENT_CERTIFICATE_PATH (the certificate must be registered on the app)';

    it('a rejected secret or certificate, by AADSTS code', async () => {
      for (const code of [7000215, 7000222, 700027, 700024, 700021, 700212]) {
        const error = await classified(refused('some_error', `AADSTS${code}: The credential was refused.  \r\nTrace ID: 1\r\nTimestamp: 2`));
        expect([code, ...shape(error)]).toEqual([
          code,
          'ConfigurationError',
          `Entra rejected the credentials of app ${CLIENT} (AADSTS${code}: The credential was refused.); check ${SECRET_HINT}`,
          'invalid_client',
          undefined,
        ]);
      }
    });

    it('a rejected credential named by its OAuth error only, quoting the first line', async () => {
      const error = await classified(refused('invalid_client', 'Client authentication failed.\nSecond line'));
      expect(shape(error)).toEqual([
        'ConfigurationError',
        `Entra rejected the credentials of app ${CLIENT} (invalid_client: Error(s): Not Available - Timestamp: Not Available - Description: Client authentication failed.); check ${SECRET_HINT}`,
        'invalid_client',
        undefined,
      ]);
    });

    it('a rejected certificate, pointing at the certificate setting', async () => {
      const error = await classified(refused('some_error', 'AADSTS700027: Client assertion failed signature validation.\r\nTrace ID: 1'), { clientCertificatePath: certPath });
      expect(shape(error)).toEqual([
        'ConfigurationError',
        `Entra rejected the credentials of app ${CLIENT} (AADSTS700027: Client assertion failed signature validation.); check ${CERT_HINT}`,
        'invalid_client',
        undefined,
      ]);
    });

    it('an unknown app', async () => {
      const byCode = await classified(refused('some_error', "AADSTS700016: Application with identifier 'cid-1' was not found.\r\nTrace ID: 1"));
      expect(shape(byCode)).toEqual([
        'ConfigurationError',
        `Entra does not know app ${CLIENT} in tenant ${TENANT} (AADSTS700016: Application with identifier 'cid-1' was not found.); check ENTRA_CLIENT_ID and ENTRA_TENANT_ID`,
        'unauthorized_client',
        undefined,
      ]);
      const byName = await classified(refused('unauthorized_client', 'The client is not authorized.'));
      expect(shape(byName)).toEqual([
        'ConfigurationError',
        `Entra does not know app ${CLIENT} in tenant ${TENANT} (unauthorized_client: Error(s): Not Available - Timestamp: Not Available - Description: The client is not authorized. - Correlation ID: Not Available - Trace ID: Not Available); check ENTRA_CLIENT_ID and ENTRA_TENANT_ID`,
        'unauthorized_client',
        undefined,
      ]);
    });

    it('an unknown tenant', async () => {
      const byCode = await classified(refused('some_error', "AADSTS90002: Tenant 'ten-1' not found.\r\nTrace ID: 1"));
      expect(shape(byCode)).toEqual([
        'ConfigurationError',
        `Entra does not know tenant ${TENANT} (AADSTS90002: Tenant 'ten-1' not found.); check ENTRA_TENANT_ID`,
        'invalid_tenant',
        undefined,
      ]);
      const byName = await classified(refused('invalid_tenant', 'No such tenant.'));
      expect(shape(byName)).toEqual([
        'ConfigurationError',
        `Entra does not know tenant ${TENANT} (invalid_tenant: Error(s): Not Available - Timestamp: Not Available - Description: No such tenant. - Correlation ID: Not Available - Trace ID: Not Available); check ENTRA_TENANT_ID`,
        'invalid_tenant',
        undefined,
      ]);
    });

    it('a certificate file that cannot be used', async () => {
      // No file name here may hold "pem": the classification looks for that word too.
      const missing = join(dir, 'missing.crt');
      const notPem = join(dir, 'not.pem');
      await writeFile(notPem, 'hello');
      // File system errors come from outside the test's realm, so they are quoted as "Error: ...".
      const cases: [string, string][] = [
        [missing, `(Error: )?ENOENT: no such file or directory, open '${missing}'`],
        [dir, '(Error: )?EISDIR: illegal operation on a directory, read'],
        [notPem, 'The file at the specified path does not contain a PEM-encoded certificate\\.'],
      ];
      for (const [path, said] of cases) {
        const error = await classified(issued('unused'), { clientCertificatePath: path });
        expect(shape(error)).toEqual([
          'ConfigurationError',
          expect.stringMatching(new RegExp(`^cannot use the certificate of app ${CLIENT} \\(${said}\\); check ENTRA_CLIENT_CERTIFICATE_PATH$`)),
          'certificate',
          undefined,
        ]);
      }
    });

    it('certificate words from the authority when no certificate is configured', async () => {
      const error = await classified(refused('temporarily_unavailable', 'The PEM private key service is down.'));
      expect(shape(error)).toEqual([
        'TransientError',
        `Entra did not issue a token for app ${CLIENT}: temporarily_unavailable: Error(s): Not Available - Timestamp: Not Available - Description: The PEM private key service is down. - Correlation ID: Not Available - Trace ID: Not Available`,
        'token_unavailable',
        undefined,
      ]);
    });

    it('a request Entra refuses for its scope, resource, form or grant', async () => {
      for (const oauth of ['invalid_scope', 'invalid_resource', 'invalid_request', 'unsupported_grant_type']) {
        const error = await classified(refused(oauth, 'AADSTS70011: The provided request is not valid.\r\nTrace ID: 1'));
        expect([oauth, ...shape(error)]).toEqual([
          oauth,
          'ConfigurationError',
          `Entra refused the token request of app ${CLIENT} (AADSTS70011: The provided request is not valid.); check ENTRA_AUTHORITY_HOST and the app registration`,
          'invalid_request',
          undefined,
        ]);
      }
    });

    it('anything else as transient, with secrets scrubbed from the quote', async () => {
      const error = await classified(refused('temporarily_unavailable', 'AADSTS50000: Retry later, client_secret=hunter2 was fine.\rTrace ID: 1'));
      expect(shape(error)).toEqual([
        'TransientError',
        `Entra did not issue a token for app ${CLIENT}: AADSTS50000: Retry later, client_secret=[Redacted] was fine.`,
        'token_unavailable',
        undefined,
      ]);
    });

    it('the words of an unreachable authority from another error class as transient, without a probe', async () => {
      const error = await classified(refused('some_error', 'endpoints_resolution_error upstream'));
      expect(error).toBeInstanceOf(TransientError);
      expect([error.code, paths()]).toEqual(['token_unavailable', [`GET ${OIDC_PATH}`, `POST ${TOKEN_PATH}`]]);
    });
  });

  describe('explains unreadable authority metadata with one plain request', () => {
    /** MSAL gets a 404 for the metadata; the probe that follows gets `probe`. */
    async function diagnosed(probe: Answer, over: Partial<CredentialSettings> = {}): Promise<SyncError> {
      authority.answer(json(404, {}), probe);
      const failure = await rejection(new AppCredential(settings(over)).getToken(GRAPH_SCOPE));
      return failure.error;
    }

    it('an unknown tenant', async () => {
      for (const body of ['{"error":"invalid_tenant"}', '{"error_description":"AADSTS90002: Tenant not found."}']) {
        const error = await diagnosed(text(400, 'application/json', body));
        expect([body, ...shape(error)]).toEqual([body, 'ConfigurationError', `Entra does not know tenant ${TENANT} (AADSTS90002); check ENTRA_TENANT_ID`, 'invalid_tenant', 400]);
      }
    });

    it('a failing authority as transient', async () => {
      for (const status of [500, 503]) {
        const error = await diagnosed(text(status, 'text/plain', 'down'));
        expect(shape(error)).toEqual(['TransientError', `The Entra authority ${authority.origin} failed (${status})`, undefined, status]);
      }
    });

    it('an authority without the tenant\'s OpenID configuration, trimming slashes off the host', async () => {
      const cases: [Answer, number][] = [
        [text(499, 'text/plain', 'nope'), 499],
        [text(404, 'application/json', '{"token_endpoint":"x"}'), 404],
        [json(200, { issuer: 'x' }), 200],
        [cutOff(200, 'application/json', '{"token_endpoint":'), 200],
      ];
      for (const [probe, status] of cases) {
        authority.clear();
        const error = await diagnosed(probe, { authorityHost: `${authority.origin}//` });
        expect(shape(error)).toEqual([
          'ConfigurationError',
          `The Entra authority ${authority.origin}// has no OpenID configuration for tenant ${TENANT} (${status}); check ENTRA_AUTHORITY_HOST and ENTRA_TENANT_ID`,
          undefined,
          status,
        ]);
        expect(authority.requests.map((r) => `${r.method} ${r.url}`)).toEqual([`GET /${OIDC_PATH}`, `GET ${OIDC_PATH}`]);
      }
    });

    it('a readable configuration as a transient failure with MSAL\'s words', async () => {
      const error = await diagnosed(metadata(authority.origin));
      expect(shape(error)).toEqual(['TransientError', `Entra did not issue a token for app ${CLIENT}: ${MSAL_FAILED}`, 'endpoints_resolution_error', undefined]);
    });

    it('a probe without an answer in time as transient', async () => {
      const error = await diagnosed(silence, { timeoutMs: 150 });
      expect(shape(error)).toEqual(['TransientError', `Cannot reach the Entra authority ${authority.origin}: TimeoutError`, 'ECONNECT', undefined]);
    });

    it('an authority that went away as transient, naming the system error', async () => {
      const gone = await ScriptedHttps.start();
      gone.answer((res, req) => {
        res.on('finish', () => void gone.close());
        json(404, {})(res, req);
      });
      const failure = await rejection(new AppCredential(settings({ authorityHost: gone.origin })).getToken(GRAPH_SCOPE));
      expect(shape(failure.error)).toEqual(['TransientError', `Cannot reach the Entra authority ${gone.origin}: ECONNREFUSED`, 'ECONNREFUSED', undefined]);
    });

    /** A server whose certificate chain, from the second connection on, ends in a CA nobody trusts. */
    async function turnsUntrusted(leafOnly: boolean): Promise<ScriptedHttps> {
      const stranger = await issueServerCertificate(await loadOrCreateAuthority(join(dir, `ca-${leafOnly}`)));
      const chain = leafOnly ? stranger.certificatePem.split(/(?<=-----END CERTIFICATE-----)/)[0]! : stranger.certificatePem;
      const server = await ScriptedHttps.start();
      server.answer((res, req) => {
        server.useCertificate({ cert: chain, key: stranger.privateKeyPem });
        json(404, {})(res, req);
      });
      return server;
    }

    it('a certificate the trust store refuses as a configuration error', async () => {
      const server = await turnsUntrusted(false);
      try {
        const failure = await rejection(new AppCredential(settings({ authorityHost: server.origin })).getToken(GRAPH_SCOPE));
        expect(shape(failure.error)).toEqual([
          'ConfigurationError',
          `Cannot reach the Entra authority ${server.origin}: SELF_SIGNED_CERT_IN_CHAIN; check ENTRA_AUTHORITY_HOST and the TLS trust store (NODE_EXTRA_CA_CERTS)`,
          'SELF_SIGNED_CERT_IN_CHAIN',
          undefined,
        ]);
      } finally {
        await server.close();
      }
    });

    // A leaf from an unknown issuer, sent without its chain, has no CERT in its code: it was
    // reported as transient, while the Graph client calls the same failure a configuration error.
    it('a leaf certificate from an unknown issuer as a configuration error', async () => {
      const server = await turnsUntrusted(true);
      try {
        const failure = await rejection(new AppCredential(settings({ authorityHost: server.origin })).getToken(GRAPH_SCOPE));
        expect(shape(failure.error)).toEqual([
          'ConfigurationError',
          `Cannot reach the Entra authority ${server.origin}: UNABLE_TO_VERIFY_LEAF_SIGNATURE; check ENTRA_AUTHORITY_HOST and the TLS trust store (NODE_EXTRA_CA_CERTS)`,
          'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
          undefined,
        ]);
      } finally {
        await server.close();
      }
    });
  });
});
