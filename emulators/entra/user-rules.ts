import type { Directory, UserRecord } from './directory.js';
import { GraphError, badRequest, invalidValue, requiredMissing } from './errors.js';
import { USER } from './schema.js';

type Rule =
  | { kind: 's'; max?: number; check?: (v: string) => boolean }
  | { kind: 'b' | 'd' }
  | { kind: 'S'; maxItems?: number; max?: number }
  | { kind: 'o'; fields: Record<string, 's' | 'b'>; max?: number };

const EXTENSION_ATTRIBUTES = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`extensionAttribute${i + 1}`, 's' as const]));

/** Writable user properties with the length limits of the user resource page. */
const WRITABLE: Record<string, Rule> = {
  accountEnabled: { kind: 'b' },
  ageGroup: { kind: 's', check: (v) => ['Minor', 'NotAdult', 'Adult'].includes(v) },
  businessPhones: { kind: 'S', maxItems: 1, max: 64 },
  city: { kind: 's', max: 128 },
  companyName: { kind: 's', max: 64 },
  consentProvidedForMinor: { kind: 's', check: (v) => ['Granted', 'Denied', 'NotRequired'].includes(v) },
  country: { kind: 's', max: 128 },
  department: { kind: 's', max: 64 },
  displayName: { kind: 's', max: 256 },
  employeeHireDate: { kind: 'd' },
  employeeLeaveDateTime: { kind: 'd' },
  employeeId: { kind: 's', max: 16 },
  employeeOrgData: { kind: 'o', fields: { costCenter: 's', division: 's' } },
  employeeType: { kind: 's' },
  faxNumber: { kind: 's' },
  givenName: { kind: 's', max: 64 },
  jobTitle: { kind: 's', max: 128 },
  mail: { kind: 's', check: (v) => /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(v) },
  // ASCII 0-127 without @ () \ [] " ; : <> , and space.
  mailNickname: { kind: 's', max: 64, check: (v) => /^[\x21-\x7e]+$/.test(v) && !/[@()\\[\]";:<>,]/.test(v) },
  mobilePhone: { kind: 's', max: 64 },
  officeLocation: { kind: 's', max: 128 },
  onPremisesExtensionAttributes: { kind: 'o', fields: EXTENSION_ATTRIBUTES, max: 1024 },
  onPremisesImmutableId: { kind: 's', check: (v) => !/[$_]/.test(v) },
  otherMails: { kind: 'S' },
  passwordPolicies: { kind: 's', check: (v) => v.split(',').every((p) => ['DisablePasswordExpiration', 'DisableStrongPassword', 'None'].includes(p.trim())) },
  passwordProfile: { kind: 'o', fields: { password: 's', forceChangePasswordNextSignIn: 'b', forceChangePasswordNextSignInWithMfa: 'b' } },
  postalCode: { kind: 's', max: 40 },
  preferredDataLocation: { kind: 's' },
  preferredLanguage: { kind: 's', check: (v) => /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(v) },
  showInAddressList: { kind: 'b' },
  state: { kind: 's', max: 128 },
  streetAddress: { kind: 's', max: 1024 },
  surname: { kind: 's', max: 64 },
  usageLocation: { kind: 's', check: (v) => /^[A-Z]{2}$/.test(v) },
  userPrincipalName: { kind: 's' },
  userType: { kind: 's', check: (v) => v === 'Member' || v === 'Guest' },
};

const NOT_CLEARABLE = new Set(['accountEnabled', 'displayName', 'mailNickname', 'userPrincipalName', 'passwordProfile']);
const REQUIRED_ON_CREATE = ['accountEnabled', 'displayName', 'mailNickname', 'userPrincipalName', 'passwordProfile'];
/** What stays writable for users mastered on-premises (the rest 400s). */
const WRITABLE_WHEN_SYNCED = new Set(['usageLocation', 'preferredLanguage', 'showInAddressList', 'passwordProfile', 'accountEnabled']);
const SYNCED_ERROR = 'Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.';

export interface ValidatedUser {
  values: Record<string, unknown>;
  password: string | undefined;
}

function validateValue(name: string, value: unknown): unknown {
  const rule = WRITABLE[name];
  if (!rule) {
    if (USER.props.has(name)) throw badRequest(`Property '${name}' is read-only and cannot be set.`);
    throw badRequest(`Invalid property '${name}'.`);
  }
  if (value === null) return null;
  switch (rule.kind) {
    case 's':
      if (typeof value !== 'string') throw invalidValue(name);
      if ((rule.max !== undefined && value.length > rule.max) || (rule.check && !rule.check(value))) throw invalidValue(name);
      return value;
    case 'b':
      if (typeof value !== 'boolean') throw invalidValue(name);
      return value;
    case 'd':
      if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) throw invalidValue(name);
      return new Date(value).toISOString().replace(/\.000Z$/, 'Z');
    case 'S':
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw invalidValue(name);
      if ((rule.maxItems !== undefined && value.length > rule.maxItems) || (rule.max !== undefined && value.some((v: string) => v.length > rule.max!))) {
        throw invalidValue(name);
      }
      return [...(value as string[])];
    case 'o': {
      if (typeof value !== 'object' || Array.isArray(value)) throw invalidValue(name);
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (k.startsWith('@odata.')) continue;
        const t = rule.fields[k];
        if (!t) throw badRequest(`Invalid property '${k}'.`);
        if (v === null) continue;
        if ((t === 's' && typeof v !== 'string') || (t === 'b' && typeof v !== 'boolean')) throw invalidValue(`${name}.${k}`);
        if (t === 's' && rule.max !== undefined && (v as string).length > rule.max) throw invalidValue(`${name}.${k}`);
        out[k] = v;
      }
      return out;
    }
  }
}

function bodyObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new GraphError(400, 'BadRequest', 'Empty Payload. JSON content expected.');
  }
  return body as Record<string, unknown>;
}

function withoutAnnotations(body: Record<string, unknown>): [string, unknown][] {
  return Object.entries(body).filter(([k, v]) => {
    if (k === '@odata.type') {
      if (v !== '#microsoft.graph.user') throw badRequest(`Invalid type '${String(v)}' for a user.`);
      return false;
    }
    return !k.startsWith('@');
  });
}

export function checkUserPrincipalName(upn: string, dir: Directory): void {
  const at = upn.lastIndexOf('@');
  if (at <= 0 || upn.indexOf('@') !== at || upn.length > 113) throw invalidValue('userPrincipalName');
  const local = upn.slice(0, at);
  const domain = upn.slice(at + 1);
  if (!/^[A-Za-z0-9'.\-_!#^~]{1,64}$/.test(local) || local.startsWith('.') || local.endsWith('.') || local.includes('..')) {
    throw invalidValue('userPrincipalName');
  }
  if (!/^[A-Za-z0-9.-]+$/.test(domain)) throw badRequest('One or more properties contains invalid values.');
  if (!dir.verifiedDomain(domain)) {
    throw badRequest(
      'The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.',
      [{ code: 'InvalidValue', target: 'userPrincipalName' }],
    );
  }
}

/** Entra's rule: 8-256 characters, three of lower, upper, digit, symbol. */
export function checkPasswordComplexity(password: string): void {
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((re) => re.test(password)).length;
  if (password.length < 8 || password.length > 256 || classes < 3 || /[^\x20-\x7e]/.test(password)) {
    throw badRequest('The specified password does not comply with password complexity requirements. Please provide a different password.');
  }
}

export function conflict(property: 'userPrincipalName' | 'proxyAddresses', existingId: string): GraphError {
  const message = `Another object with the same value for property ${property} already exists.`;
  const details =
    property === 'proxyAddresses'
      ? [
          { code: 'ObjectConflict', message, target: property },
          { code: 'ConflictingObjects', message, target: existingId },
        ]
      : [{ code: 'ObjectConflict', target: property }];
  return badRequest(message, details);
}

function checkMailConflict(dir: Directory, mail: unknown, selfId: string | undefined): void {
  if (typeof mail !== 'string') return;
  const owner = dir.proxyOwner(`smtp:${mail}`);
  if (owner && owner !== selfId) throw conflict('proxyAddresses', owner);
}

export function validateCreate(raw: unknown, dir: Directory, passwordComplexity: boolean): ValidatedUser {
  const body = bodyObject(raw);
  const values: Record<string, unknown> = {};
  for (const [name, value] of withoutAnnotations(body)) {
    const v = validateValue(name, value);
    if (v !== null) values[name] = v;
  }
  for (const name of REQUIRED_ON_CREATE) {
    if (values[name] === undefined || values[name] === '') throw requiredMissing(name);
  }
  const profile = values.passwordProfile as Record<string, unknown>;
  const password = profile.password;
  if (typeof password !== 'string' || !password) throw requiredMissing('passwordProfile.password');
  if (passwordComplexity) checkPasswordComplexity(password);
  const upn = values.userPrincipalName as string;
  checkUserPrincipalName(upn, dir);
  if (dir.verifiedDomain(upn.slice(upn.lastIndexOf('@') + 1))?.federated && values.onPremisesImmutableId === undefined) {
    throw requiredMissing('onPremisesImmutableId');
  }
  const owner = dir.upnOwner(upn);
  if (owner) throw conflict('userPrincipalName', owner.id);
  checkMailConflict(dir, values.mail, undefined);
  delete values.passwordProfile;
  values.passwordProfile = {
    forceChangePasswordNextSignIn: profile.forceChangePasswordNextSignIn ?? true,
    forceChangePasswordNextSignInWithMfa: profile.forceChangePasswordNextSignInWithMfa ?? false,
  };
  return { values, password };
}

export interface ValidatedPatch {
  changes: Record<string, unknown>;
  password: string | undefined;
  touchesPassword: boolean;
  touchesOnlyAccountEnabled: boolean;
}

export function validatePatch(raw: unknown, rec: UserRecord, dir: Directory, passwordComplexity: boolean): ValidatedPatch {
  const body = bodyObject(raw);
  const changes: Record<string, unknown> = {};
  const synced = rec.values.onPremisesSyncEnabled === true;
  for (const [name, value] of withoutAnnotations(body)) {
    const v = validateValue(name, value);
    if (synced && !WRITABLE_WHEN_SYNCED.has(name)) throw badRequest(SYNCED_ERROR);
    if (name === 'onPremisesExtensionAttributes' && rec.values.onPremisesLastSyncDateTime !== undefined) {
      // Writable only for users that were never synced.
      throw badRequest('Unable to update the specified properties for objects that have originated within an external service.');
    }
    if (v === null && NOT_CLEARABLE.has(name)) throw invalidValue(name);
    changes[name] = v;
  }
  let password: string | undefined;
  const touchesPassword = 'passwordProfile' in changes;
  if (touchesPassword) {
    const profile = changes.passwordProfile as Record<string, unknown>;
    if (typeof profile.password === 'string') {
      password = profile.password;
      if (passwordComplexity) checkPasswordComplexity(password);
    }
    const current = (rec.values.passwordProfile ?? {}) as Record<string, unknown>;
    changes.passwordProfile = {
      forceChangePasswordNextSignIn: profile.forceChangePasswordNextSignIn ?? current.forceChangePasswordNextSignIn ?? false,
      forceChangePasswordNextSignInWithMfa: profile.forceChangePasswordNextSignInWithMfa ?? current.forceChangePasswordNextSignInWithMfa ?? false,
    };
  }
  if (typeof changes.userPrincipalName === 'string') {
    checkUserPrincipalName(changes.userPrincipalName, dir);
    const owner = dir.upnOwner(changes.userPrincipalName);
    if (owner && owner.id !== rec.id) throw conflict('userPrincipalName', owner.id);
  }
  checkMailConflict(dir, changes.mail, rec.id);
  if (changes.onPremisesExtensionAttributes) {
    // The complex type merges: attributes not sent keep their values, null clears one.
    const merged = { ...((rec.values.onPremisesExtensionAttributes ?? {}) as Record<string, unknown>) };
    for (const [k, v] of Object.entries((body.onPremisesExtensionAttributes ?? {}) as Record<string, unknown>)) {
      if (v === null) delete merged[k];
      else merged[k] = v;
    }
    changes.onPremisesExtensionAttributes = Object.keys(merged).length ? merged : null;
  }
  const names = Object.keys(changes);
  return { changes, password, touchesPassword, touchesOnlyAccountEnabled: names.length === 1 && names[0] === 'accountEnabled' };
}
