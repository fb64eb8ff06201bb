import { DELETED_RETENTION_SECONDS, visibleAfterCreate, type Core } from './core.js';
import type { UserRecord } from './directory.js';
import { GraphError, badRequest, notFound } from './errors.js';
import { json, noContent, readJson, type GraphRequest, type GraphResponse } from './http.js';
import { listEntities } from './listing.js';
import { USER_FILTERS } from './odata.js';
import { requirePermission } from './permissions.js';
import { USER, parseSelect, project } from './schema.js';
import { checkUserPrincipalName, conflict } from './user-rules.js';

const USER_TYPE = '#microsoft.graph.user';

function sweep(core: Core): void {
  core.directory.sweepDeleted(core.clock.now(), core.clock.scaled(DELETED_RETENTION_SECONDS));
}

function findDeleted(core: Core, id: string): UserRecord {
  sweep(core);
  const rec = core.directory.deleted.get(id.toLowerCase());
  if (!rec) throw notFound(id);
  return rec;
}

/** `GET /directory/deletedItems/microsoft.graph.user` (the type-cast segment is required). */
export function listDeletedUsers(req: GraphRequest, core: Core): GraphResponse {
  requirePermission(req.auth, 'readDeleted');
  sweep(core);
  const records = [...core.directory.deleted.values()].sort((a, b) => a.seq - b.seq);
  return listEntities<UserRecord>(req, {
    schema: USER,
    filters: USER_FILTERS,
    path: 'directory/deletedItems/microsoft.graph.user',
    contextSet: 'directory/deletedItems/microsoft.graph.user',
    scan: (after, visit) => {
      for (const rec of records) if (rec.seq > after && !visit(rec)) return;
    },
    values: (rec) => rec.values,
    seq: (rec) => rec.seq,
    orderBy: { defaults: ['displayName', 'deletedDateTime'], advanced: [] },
    searchable: ['displayName', 'userPrincipalName'],
    decorate: (rec, out) => (req.query.has('$select') || req.query.has('$skiptoken') ? out : { ...out, deletedDateTime: rec.values.deletedDateTime ?? null }),
  });
}

export function deletedItemsWithoutCast(): never {
  throw new GraphError(400, 'Request_BadRequest', "The type cast segment (for example 'microsoft.graph.user') is required when listing deleted items.");
}

export function getDeletedItem(req: GraphRequest, core: Core, id: string): GraphResponse {
  requirePermission(req.auth, 'readDeleted');
  const rec = findDeleted(core, id);
  const select = parseSelect(USER, req.query.get('$select'));
  return json(200, {
    '@odata.context': `${req.origin}/v1.0/$metadata#directoryObjects/$entity`,
    '@odata.type': USER_TYPE,
    ...project(USER, rec.values, select ? select : [...USER.defaultSelect, 'deletedDateTime']),
  });
}

/** Restore keeps the object id; a UPN taken meanwhile conflicts unless a new one is given. */
export function restoreDeletedItem(req: GraphRequest, core: Core, id: string): GraphResponse {
  requirePermission(req.auth, 'restoreUsers');
  const rec = findDeleted(core, id);
  const body = readJson(req);
  const newUpn = body && typeof body === 'object' ? (body as Record<string, unknown>).newUserPrincipalName : undefined;
  if (newUpn !== undefined) {
    if (typeof newUpn !== 'string') throw badRequest('Invalid value for newUserPrincipalName.');
    checkUserPrincipalName(newUpn, core.directory);
  }
  const upn = (newUpn as string | undefined) ?? (rec.values.userPrincipalName as string);
  const owner = core.directory.upnOwner(upn);
  if (owner) throw conflict('userPrincipalName', owner.id);
  const mail = rec.values.mail;
  const mailOwner = typeof mail === 'string' ? core.directory.proxyOwner(`smtp:${mail}`) : undefined;
  if (mailOwner) throw conflict('proxyAddresses', mailOwner);
  rec.values.userPrincipalName = upn;
  core.directory.restore(rec, core.clock.now(), visibleAfterCreate(core));
  return json(200, {
    '@odata.context': `${req.origin}/v1.0/$metadata#directoryObjects/$entity`,
    '@odata.type': USER_TYPE,
    ...project(USER, rec.values, undefined),
  });
}

export function purgeDeletedItem(req: GraphRequest, core: Core, id: string): GraphResponse {
  requirePermission(req.auth, 'restoreUsers');
  const rec = findDeleted(core, id);
  core.directory.purge(rec, core.clock.now());
  return noContent();
}
