import { visibleAfterCreate, type Core } from './core.js';
import { isGuid, isoSeconds, type GroupRecord, type UserRecord } from './directory.js';
import { GraphError, badRequest, invalidValue, notFound, requiredMissing } from './errors.js';
import { json, noContent, readJson, type GraphRequest, type GraphResponse } from './http.js';
import { listEntities, type ListSpec } from './listing.js';
import { GROUP_FILTERS, USER_FILTERS, equalityValues } from './odata.js';
import { requirePermission } from './permissions.js';
import { GROUP, USER, contextUrl, parseSelect, project } from './schema.js';
import { findUserOrThrow } from './users.js';

const ALREADY_MEMBER = "One or more added object references already exist for the following modified properties: 'members'.";
// Graph computes a dynamic group's members from its rule and answers a member write with a
// 400; the reference gives no text for it, so this one only says what happened.
const DYNAMIC_MEMBERS = 'The members of a group with dynamic membership cannot be changed.';

/** A dynamic group's members come from its rule: Graph refuses writes to them. */
function refuseDynamic(g: GroupRecord): void {
  const types = g.values.groupTypes;
  if (Array.isArray(types) && types.includes('DynamicMembership')) throw badRequest(DYNAMIC_MEMBERS);
}

const MAX_BIND = 20;

type Member = { kind: 'user'; rec: UserRecord } | { kind: 'group'; rec: GroupRecord };

function groupSpec(core: Core): ListSpec<GroupRecord> {
  return {
    schema: GROUP,
    filters: GROUP_FILTERS,
    path: 'groups',
    scan: (after, visit) => {
      const now = core.clock.now();
      for (const g of core.directory.groups.values()) {
        if (g.seq > after && g.visibleAt <= now && !visit(g)) return;
      }
    },
    byIndex: (expr) => {
      const ids = equalityValues(expr, 'id');
      if (!ids) return undefined;
      return ids.map((id) => core.directory.findGroup(id, core.clock.now())).filter((g): g is GroupRecord => !!g);
    },
    values: (g) => g.values,
    seq: (g) => g.seq,
    orderBy: { defaults: ['displayName'], advanced: ['createdDateTime', 'mailNickname'] },
    searchable: ['displayName', 'description', 'mailNickname', 'mail'],
  };
}

function findGroupOrThrow(core: Core, id: string): GroupRecord {
  const g = core.directory.findGroup(id, core.clock.now());
  if (!g) throw notFound(id);
  return g;
}

/** Any visible directory object by id: users, then groups. */
function findObject(core: Core, id: string): Member | undefined {
  const now = core.clock.now();
  if (!isGuid(id)) return undefined;
  const user = core.directory.findUser(id, now);
  if (user) return { kind: 'user', rec: user };
  const group = core.directory.findGroup(id, now);
  return group ? { kind: 'group', rec: group } : undefined;
}

export function listGroups(req: GraphRequest, core: Core): GraphResponse {
  requirePermission(req.auth, 'readGroups');
  return listEntities(req, groupSpec(core));
}

export function getGroup(req: GraphRequest, core: Core, id: string): GraphResponse {
  requirePermission(req.auth, 'readGroups');
  const g = findGroupOrThrow(core, id);
  const select = parseSelect(GROUP, req.query.get('$select'));
  return json(200, { '@odata.context': contextUrl(req.origin, 'groups', select, true), ...project(GROUP, g.values, select) });
}

function body(req: GraphRequest): Record<string, unknown> {
  const b = readJson(req);
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw new GraphError(400, 'BadRequest', 'Empty Payload. JSON content expected.');
  return b as Record<string, unknown>;
}

const GROUP_WRITABLE: Record<string, 's' | 'b' | 'S'> = {
  displayName: 's',
  description: 's',
  mailNickname: 's',
  mailEnabled: 'b',
  securityEnabled: 'b',
  groupTypes: 'S',
  visibility: 's',
  isAssignableToRole: 'b',
};

function groupValues(b: Record<string, unknown>): { values: Record<string, unknown>; binds: string[] | undefined } {
  const values: Record<string, unknown> = {};
  let binds: string[] | undefined;
  for (const [k, v] of Object.entries(b)) {
    if (k === 'members@odata.bind') {
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalidValue('members', 'Group');
      binds = v as string[];
      continue;
    }
    if (k.startsWith('@') || k.endsWith('@odata.bind')) continue;
    const t = GROUP_WRITABLE[k];
    if (!t) throw badRequest(GROUP.props.has(k) ? `Property '${k}' is read-only and cannot be set.` : `Invalid property '${k}'.`);
    if (v === null) {
      values[k] = null;
      continue;
    }
    const ok = t === 's' ? typeof v === 'string' : t === 'b' ? typeof v === 'boolean' : Array.isArray(v) && v.every((x) => typeof x === 'string');
    if (!ok || (k === 'displayName' && (v as string).length > 256) || (k === 'mailNickname' && (v as string).length > 64)) throw invalidValue(k, 'Group');
    values[k] = v;
  }
  return { values, binds };
}

export function createGroup(req: GraphRequest, core: Core): GraphResponse {
  requirePermission(req.auth, 'createGroups');
  const { values, binds } = groupValues(body(req));
  for (const name of ['displayName', 'mailEnabled', 'mailNickname', 'securityEnabled']) {
    if (values[name] === undefined || values[name] === null) throw requiredMissing(name);
  }
  const members = binds ? resolveBinds(core, binds) : [];
  const g = core.directory.insertGroup(newGroupValues(values, core.clock.now()), visibleAfterCreate(core));
  for (const m of members) core.directory.addMember(g, m.rec.id);
  return json(201, { '@odata.context': contextUrl(req.origin, 'groups', undefined, true), ...project(GROUP, g.values, undefined) });
}

export function newGroupValues(values: Record<string, unknown>, now: number): Record<string, unknown> {
  const clean = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== null && v !== undefined));
  return { groupTypes: [], proxyAddresses: [], resourceBehaviorOptions: [], resourceProvisioningOptions: [], ...clean, createdDateTime: isoSeconds(now), renewedDateTime: isoSeconds(now) };
}

/** PATCH with `members@odata.bind` (≤ 20) is all-or-nothing: one existing member fails the lot. */
export function patchGroup(req: GraphRequest, core: Core, id: string): GraphResponse {
  const { values, binds } = groupValues(body(req));
  if (Object.keys(values).length) requirePermission(req.auth, 'writeGroups');
  if (binds) requirePermission(req.auth, 'writeMembers');
  const g = findGroupOrThrow(core, id);
  if (values.displayName === null || values.mailNickname === null) throw invalidValue(values.displayName === null ? 'displayName' : 'mailNickname', 'Group');
  let members: Member[] = [];
  if (binds) {
    if (binds.length > MAX_BIND) throw badRequest(`The maximum number of references that can be added in a single request is ${MAX_BIND}.`);
    refuseDynamic(g);
    members = resolveBinds(core, binds);
    if (members.some((m) => g.members.has(m.rec.id))) throw badRequest(ALREADY_MEMBER);
  }
  for (const [k, v] of Object.entries(values)) {
    if (v === null) delete g.values[k];
    else g.values[k] = v;
  }
  for (const m of members) core.directory.addMember(g, m.rec.id);
  return noContent();
}

export function deleteGroup(req: GraphRequest, core: Core, id: string): GraphResponse {
  requirePermission(req.auth, 'writeGroups');
  core.directory.deleteGroup(findGroupOrThrow(core, id));
  return noContent();
}

/** `https://graph.microsoft.com/v1.0/directoryObjects/{id}` (users/{id}, groups/{id} also accepted). */
function refId(url: string): string {
  const m = /\/(?:directoryObjects|users|groups)\/([^/?#]+)\/?$/i.exec(url) ?? /\/(?:directoryObjects|users|groups)\('([^']+)'\)$/i.exec(url);
  if (!m) throw badRequest(`Invalid object identifier '${url}'.`);
  return decodeURIComponent(m[1]!);
}

function resolveBinds(core: Core, urls: string[]): Member[] {
  return urls.map((u) => {
    const id = refId(u);
    const obj = findObject(core, id);
    if (!obj) throw notFound(id);
    return obj;
  });
}

export function addMemberRef(req: GraphRequest, core: Core, groupId: string): GraphResponse {
  requirePermission(req.auth, 'writeMembers');
  const b = body(req);
  const url = b['@odata.id'];
  if (typeof url !== 'string') throw badRequest("The request body must contain '@odata.id'.");
  const g = findGroupOrThrow(core, groupId);
  const id = refId(url);
  const obj = findObject(core, id);
  if (!obj) throw notFound(id);
  if (obj.kind === 'group' && obj.rec.id === g.id) throw badRequest('A group cannot be a member of itself.');
  refuseDynamic(g);
  if (g.members.has(obj.rec.id)) throw badRequest(ALREADY_MEMBER);
  core.directory.addMember(g, obj.rec.id);
  return noContent();
}

export function removeMemberRef(req: GraphRequest, core: Core, groupId: string, memberId: string): GraphResponse {
  requirePermission(req.auth, 'writeMembers');
  const g = findGroupOrThrow(core, groupId);
  const id = memberId.toLowerCase();
  if (!g.members.has(id)) throw notFound(memberId);
  refuseDynamic(g);
  core.directory.removeMember(g, id);
  return noContent();
}

function memberObjects(core: Core, g: GroupRecord, transitive: boolean): Member[] {
  const seen = new Set<string>();
  const out: Member[] = [];
  const visit = (group: GroupRecord): void => {
    for (const id of group.members) {
      if (seen.has(id)) continue;
      seen.add(id);
      const obj = findObject(core, id);
      if (!obj) continue; // soft-deleted or not yet visible members are hidden
      out.push(obj);
      if (transitive && obj.kind === 'group') visit(obj.rec);
    }
  };
  visit(g);
  return out.sort((a, b) => a.rec.seq - b.rec.seq);
}

/** `$select` on a directoryObject collection may name properties of users or of groups. */
function selectAcross(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  const names = raw.split(',').map((n) => n.trim()).filter(Boolean);
  return names.map((n) => {
    const c = USER.byLowerName.get(n.toLowerCase()) ?? GROUP.byLowerName.get(n.toLowerCase());
    if (!c) parseSelect(USER, n);
    return c ?? n;
  });
}

/** directoryObject collections: each item carries `@odata.type`. */
function objectList(req: GraphRequest, path: string, items: Member[]): GraphResponse {
  const spec: ListSpec<Member> = {
    schema: USER,
    filters: USER_FILTERS,
    path,
    contextSet: 'directoryObjects',
    scan: (after, visit) => {
      for (const m of items) if (m.rec.seq > after && !visit(m)) return;
    },
    values: (m) => m.rec.values,
    seq: (m) => m.rec.seq,
    orderBy: { defaults: [], advanced: [] },
    searchable: [],
  };
  const select = selectAcross(req.query.get('$select'));
  spec.decorate = (m) => {
    const schema = m.kind === 'user' ? USER : GROUP;
    const sel = select?.filter((s) => schema.props.has(s));
    return { '@odata.type': `#microsoft.graph.${m.kind}`, ...project(schema, m.rec.values, sel?.length ? sel : undefined) };
  };
  // Filters on directoryObject collections are not part of the emulated surface.
  if (req.query.has('$filter')) throw new GraphError(400, 'Request_UnsupportedQuery', 'Unsupported Query.');
  return listEntities({ ...req, query: new Map([...req.query].filter(([k]) => k !== '$select')) }, spec);
}

export function listMembers(req: GraphRequest, core: Core, groupId: string, transitive: boolean): GraphResponse {
  requirePermission(req.auth, 'readGroups');
  const g = findGroupOrThrow(core, groupId);
  return objectList(req, `groups/${g.id}/${transitive ? 'transitiveMembers' : 'members'}`, memberObjects(core, g, transitive));
}

export function listMemberOf(req: GraphRequest, core: Core, userKey: string, transitive: boolean): GraphResponse {
  requirePermission(req.auth, 'readMemberOf');
  const user = findUserOrThrow(core, userKey);
  const now = core.clock.now();
  const seen = new Map<string, GroupRecord>();
  const visit = (id: string): void => {
    for (const g of core.directory.groupsOf(id)) {
      if (seen.has(g.id) || g.visibleAt > now) continue;
      seen.set(g.id, g);
      if (transitive) visit(g.id);
    }
  };
  visit(user.id);
  const items: Member[] = [...seen.values()].sort((a, b) => a.seq - b.seq).map((rec) => ({ kind: 'group', rec }));
  return objectList(req, `users/${user.id}/${transitive ? 'transitiveMemberOf' : 'memberOf'}`, items);
}
