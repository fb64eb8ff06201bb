import { X509Certificate, randomBytes, randomUUID, type KeyObject } from 'node:crypto';

/** Application permissions (the token's `roles`) a sync worker needs. */
export const SYNC_WORKER_ROLES = [
  'User.ReadWrite.All',
  'Group.ReadWrite.All',
  'GroupMember.ReadWrite.All',
  'User-PasswordProfile.ReadWrite.All',
  'User.DeleteRestore.All',
  'ProfilePhoto.ReadWrite.All',
  'Directory.Read.All',
  'Organization.Read.All',
] as const;

/** Directory role template id of "User Administrator"; app-only tokens carry role ids in `wids`. */
export const USER_ADMINISTRATOR_ROLE = 'fe930be7-5e62-47db-91af-98c3a49a38b1';

export interface AppRegistrationInput {
  clientId?: string;
  clientSecret?: string;
  certificatePem?: string;
  roles: string[];
  /** Holds the User Administrator directory role (needed with User-PasswordProfile.ReadWrite.All for password writes). */
  passwordAdministrator?: boolean;
  displayName?: string;
}

export interface RegisteredApp {
  clientId: string;
  clientSecret?: string;
  /** base64url SHA-256 thumbprint, as sent in the assertion header's `x5t#S256`. */
  certificateThumbprint?: string;
}

interface AppCertificate {
  publicKey: KeyObject;
  x5tS256: string;
  x5t: string;
}

export interface App {
  clientId: string;
  servicePrincipalId: string;
  displayName: string;
  secrets: Set<string>;
  /** Secrets past their end date: refused with AADSTS7000222 rather than 7000215. */
  expiredSecrets: Set<string>;
  certificates: AppCertificate[];
  roles: string[];
  passwordAdministrator: boolean;
}

export class AppRegistry {
  private readonly apps = new Map<string, App>();

  register(input: AppRegistrationInput): RegisteredApp {
    const clientId = (input.clientId ?? randomUUID()).toLowerCase();
    const secret = input.clientSecret ?? (input.certificatePem ? undefined : generateSecret());
    const app: App = {
      clientId,
      servicePrincipalId: randomUUID(),
      displayName: input.displayName ?? `idsync app ${clientId.slice(0, 8)}`,
      secrets: new Set(secret === undefined ? [] : [secret]),
      expiredSecrets: new Set(),
      certificates: [],
      roles: [...input.roles],
      passwordAdministrator: input.passwordAdministrator ?? false,
    };
    const result: RegisteredApp = { clientId };
    if (secret !== undefined) result.clientSecret = secret;
    this.apps.set(clientId, app);
    if (input.certificatePem) result.certificateThumbprint = this.addCertificate(clientId, input.certificatePem);
    return result;
  }

  /** Registers one more certificate on an app; returns its base64url SHA-256 thumbprint. */
  addCertificate(clientId: string, certificatePem: string): string {
    const app = this.get(clientId);
    if (!app) throw new Error(`unknown app ${clientId}`);
    const cert = new X509Certificate(certificatePem);
    const x5tS256 = Buffer.from(cert.fingerprint256.replace(/:/g, ''), 'hex').toString('base64url');
    const x5t = Buffer.from(cert.fingerprint.replace(/:/g, ''), 'hex').toString('base64url');
    app.certificates.push({ publicKey: cert.publicKey, x5tS256, x5t });
    return x5tS256;
  }

  /** Every secret of the app passes its end date (tokens already issued stay valid until they expire). */
  expireSecrets(clientId: string): void {
    const app = this.get(clientId);
    if (!app) throw new Error(`unknown app ${clientId}`);
    for (const s of app.secrets) app.expiredSecrets.add(s);
    app.secrets.clear();
  }

  get(clientId: string): App | undefined {
    return this.apps.get(clientId.toLowerCase());
  }
}

// Entra secrets are 40 characters with '~' and '.'; the shape does not matter to clients.
function generateSecret(): string {
  return `${randomBytes(3).toString('hex').slice(0, 3)}8Q~${randomBytes(27).toString('base64url').slice(0, 34)}`;
}
