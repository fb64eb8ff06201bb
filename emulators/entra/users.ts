import { randomUUID } from 'node:crypto';
import { visibleAfterCreate, type Core } from './core.js';
import { isGuid, isoSeconds, type UserRecord } from './directory.js';
import { notFound } from './errors.js';
import { json, noContent, readJson, type GraphRequest, type GraphResponse } from './http.js';
import { countEntities, listEntities, type ListSpec } from './listing.js';
import { USER_FILTERS, equalityValues, type Expr } from './odata.js';
import { requirePasswordWrite, requirePermission } from './permissions.js';
import { SHAREPOINT_PROPS, USER, contextUrl, parseSelect, project } from './schema.js';
import { validateCreate, validatePatch } from './user-rules.js';

export function userListSpec(core: Core): ListSpec<UserRecord> {
  const dir = core.directory;
  return {
    schema: USER,
    filters: USER_FILTERS,
    path: 'users',
    scan: (after, visit) => dir.scanUsers(after, core.clock.now(), visit),
    byIndex: (expr: Expr) => {
      const now = core.clock.now();
      const ids = equalityValues(expr, 'id');
      const upns = ids ? undefined : equalityValues(expr, 'userPrincipalName');
      const keys = ids ?? upns;
      if (!keys) return undefined;
      const found = new Map<string, UserRecord>();
      for (const k of keys) {
        const rec = ids && !isGuid(k) ? undefined : dir.findUser(k, now);
        if (rec) found.set(rec.id, rec);
      }
      return [...found.values()];
    },
    values: (rec) => rec.values,
    seq: (rec) => rec.seq,
    orderBy: { defaults: ['displayName', 'userPrincipalName'], advanced: ['mail', 'createdDateTime', 'employeeId', 'givenName', 'surname', 'jobTitle', 'department'] },
    searchable: ['displayName', 'givenName', 'surname', 'mail', 'mailNickname', 'userPrincipalName', 'jobTitle', 'department', 'employeeId'],
    notOnList: SHAREPOINT_PROPS,
  };
}

/** `/users/{id | userPrincipalName}`; a UPN starting with '$' must use the `users('…')` form. */
export function findUserOrThrow(core: Core, key: string): UserRecord {
  const rec = core.directory.findUser(key, core.clock.now());
  if (!rec) throw notFound(key);
  return rec;
}

export function listUsers(req: GraphRequest, core: Core): GraphResponse {
  requirePermission(req.auth, 'readUsers');
  return listEntities(req, userListSpec(core));
}

export function countUsers(req: GraphRequest, core: Core): GraphResponse {
  requirePermission(req.auth, 'readUsers');
  return countEntities(req, userListSpec(core));
}

export function getUser(req: GraphRequest, core: Core, key: string): GraphResponse {
  requirePermission(req.auth, 'readUsers');
  const rec = findUserOrThrow(core, key);
  const select = parseSelect(USER, req.query.get('$select'));
  return json(200, { '@odata.context': contextUrl(req.origin, 'users', select, true), ...project(USER, rec.values, select) });
}

export function createUser(req: GraphRequest, core: Core): GraphResponse {
  requirePermission(req.auth, 'writeUsers');
  const { values, password } = validateCreate(readJson(req), core.directory, core.faults.passwordComplexity);
  const now = core.clock.now();
  const rec = core.directory.insertUser(completeNewUser(core, values, now), password, now, visibleAfterCreate(core));
  return json(201, { '@odata.context': contextUrl(req.origin, 'users', undefined, true), ...project(USER, rec.values, undefined) });
}

export function patchUser(req: GraphRequest, core: Core, key: string): GraphResponse {
  const body = readJson(req);
  const keys = body && typeof body === 'object' ? Object.keys(body).filter((k) => !k.startsWith('@')) : [];
  if (keys.includes('passwordProfile')) requirePasswordWrite(req.auth);
  const others = keys.filter((k) => k !== 'passwordProfile');
  if (others.length === 1 && others[0] === 'accountEnabled') requirePermission(req.auth, 'enableDisableUsers');
  else if (others.length) requirePermission(req.auth, 'writeUsers');
  const rec = findUserOrThrow(core, key);
  const patch = validatePatch(body, rec, core.directory, core.faults.passwordComplexity);
  const now = core.clock.now();
  if (patch.password !== undefined) {
    core.directory.setPassword(rec, patch.password, now);
    patch.changes.lastPasswordChangeDateTime = rec.values.lastPasswordChangeDateTime;
    patch.changes.signInSessionsValidFromDateTime = isoSeconds(now);
  }
  if (typeof patch.changes.userPrincipalName === 'string') {
    patch.changes.identities = [{ signInType: 'userPrincipalName', issuer: core.directory.defaultDomain().name, issuerAssignedId: patch.changes.userPrincipalName }];
  }
  core.directory.updateUser(rec, patch.changes, now);
  return noContent();
}

export function deleteUser(req: GraphRequest, core: Core, key: string): GraphResponse {
  requirePermission(req.auth, 'deleteUsers');
  const rec = findUserOrThrow(core, key);
  core.directory.softDelete(rec, core.clock.now());
  return noContent();
}

/** Server-set properties of a new user. */
export function completeNewUser(core: Core, values: Record<string, unknown>, now: number): Record<string, unknown> {
  const id = typeof values.id === 'string' ? values.id.toLowerCase() : randomUUID();
  const stamp = isoSeconds(now);
  const out: Record<string, unknown> = {
    createdDateTime: stamp,
    lastPasswordChangeDateTime: stamp,
    signInSessionsValidFromDateTime: stamp,
    userType: 'Member',
    ...values,
    id,
    securityIdentifier: securityIdentifier(id),
  };
  if (typeof out.userPrincipalName === 'string' && out.identities === undefined) {
    out.identities = [{ signInType: 'userPrincipalName', issuer: core.directory.defaultDomain().name, issuerAssignedId: out.userPrincipalName }];
  }
  if (typeof out.mail === 'string' && out.proxyAddresses === undefined) out.proxyAddresses = [`SMTP:${out.mail}`];
  return out;
}

/** On-premises style SID derived from the object id, as Entra does for cloud users (S-1-12-1-…). */
function securityIdentifier(id: string): string {
  const bytes = Buffer.from(id.replace(/-/g, ''), 'hex');
  // GUID byte order: the first three fields are little-endian.
  const le = Buffer.concat([
    Buffer.from(bytes.subarray(0, 4)).reverse(),
    Buffer.from(bytes.subarray(4, 6)).reverse(),
    Buffer.from(bytes.subarray(6, 8)).reverse(),
    bytes.subarray(8),
  ]);
  const parts = [0, 4, 8, 12].map((o) => le.readUInt32LE(o));
  return `S-1-12-1-${parts.join('-')}`;
}
