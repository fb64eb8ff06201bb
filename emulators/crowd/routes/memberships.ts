// Direct and nested memberships in both directions (reference §5). Rule from the source:
// an entity named in the URL that is missing → 404; one named in the body → 400.
import type { Handler, RequestContext } from '../context.js';
import { groupListRep, minimalGroupRep, minimalUserRep, userListRep } from '../entities.js';
import { readGroup, readUser } from '../entity-input.js';
import {
  CrowdError,
  groupNotFound,
  illegalArgument,
  membershipExists,
  membershipNotFound,
  userNotFound,
} from '../errors.js';
import { byCodeUnit, expands, pageOf, paging } from '../params.js';
import type { GroupRecord, UserRecord } from '../store.js';
import { groupFromQuery } from './groups.js';
import { userFromQuery } from './users.js';

const q = encodeURIComponent;

function listUsers(ctx: RequestContext, ordered: readonly string[]): ReturnType<Handler> {
  const ex = expands(ctx);
  const users = pageOf(ordered, paging(ctx)).map((n) => ctx.store.getUserByLower(n) as UserRecord);
  return { status: 200, rep: userListRep(ctx.render, users, { expand: ex.has('user'), withAttributes: ex.has('attributes') }) };
}

function listGroups(ctx: RequestContext, ordered: readonly string[]): ReturnType<Handler> {
  const ex = expands(ctx);
  const groups = pageOf(ordered, paging(ctx)).map((n) => ctx.store.getGroupByLower(n) as GroupRecord);
  return { status: 200, rep: groupListRep(ctx.render, groups, { expand: ex.has('group'), withAttributes: ex.has('attributes') }) };
}

const sorted = (names: Set<string>): string[] => [...names].sort(byCodeUnit);

// ---- group → users ----

export const getGroupUsersDirect: Handler = (ctx) => {
  const group = groupFromQuery(ctx);
  const username = ctx.query.get('username');
  if (username === null) return listUsers(ctx, group.users.ordered());
  const user = ctx.store.getUser(username);
  if (!user || !group.users.has(user.lowerName)) throw membershipNotFound(username, group.name);
  return { status: 200, rep: minimalUserRep(ctx.render, user.name) };
};

export const getGroupUsersNested: Handler = (ctx) => {
  const group = groupFromQuery(ctx);
  const members = ctx.store.nestedUsersOfGroup(group);
  const username = ctx.query.get('username');
  if (username === null) return listUsers(ctx, sorted(members));
  const user = ctx.store.getUser(username);
  if (!user || !members.has(user.lowerName)) throw membershipNotFound(username, group.name);
  return { status: 200, rep: minimalUserRep(ctx.render, user.name) };
};

export const addGroupUser: Handler = (ctx) => {
  const input = readUser(ctx);
  const group = groupFromQuery(ctx);
  if (input.name === null) throw illegalArgument('User name must be given');
  const user = ctx.store.getUser(input.name);
  if (!user) throw userNotFound(input.name, 400);
  if (!ctx.store.addMember(user, group)) throw membershipExists(user.name, group.name);
  return {
    status: 201,
    headers: { Location: `${ctx.render.base}group/user/direct?groupname=${q(group.name)}&username=${q(user.name)}` },
  };
};

function removeMembership(ctx: RequestContext): ReturnType<Handler> {
  const user = userFromQuery(ctx);
  const group = groupFromQuery(ctx);
  if (!ctx.store.removeMember(user, group)) throw membershipNotFound(user.name, group.name);
  return { status: 204 };
}

export const removeGroupUser: Handler = removeMembership;

// ---- user → groups ----

export const getUserGroupsDirect: Handler = (ctx) => {
  const user = userFromQuery(ctx);
  const groupname = ctx.query.get('groupname');
  if (groupname === null) return listGroups(ctx, user.groups.ordered());
  const group = ctx.store.getGroup(groupname);
  if (!group || !user.groups.has(group.lowerName)) throw membershipNotFound(user.name, groupname);
  return { status: 200, rep: minimalGroupRep(ctx.render, group.name) };
};

export const getUserGroupsNested: Handler = (ctx) => {
  const user = userFromQuery(ctx);
  const groups = ctx.store.nestedGroupsOfUser(user);
  const groupname = ctx.query.get('groupname');
  if (groupname === null) return listGroups(ctx, sorted(groups));
  const group = ctx.store.getGroup(groupname);
  if (!group || !groups.has(group.lowerName)) throw membershipNotFound(user.name, groupname);
  return { status: 200, rep: minimalGroupRep(ctx.render, group.name) };
};

export const addUserGroup: Handler = (ctx) => {
  const input = readGroup(ctx);
  const user = userFromQuery(ctx);
  if (input.name === null) throw illegalArgument('Group name must be given');
  const group = ctx.store.getGroup(input.name);
  if (!group) throw groupNotFound(input.name, 400);
  if (!ctx.store.addMember(user, group)) throw membershipExists(user.name, group.name);
  return {
    status: 201,
    headers: { Location: `${ctx.render.base}user/group/direct?username=${q(user.name)}&groupname=${q(group.name)}` },
  };
};

export const removeUserGroup: Handler = removeMembership;

// ---- group ↔ group ----

function link(ctx: RequestContext, parent: GroupRecord, child: GroupRecord): void {
  if (parent === child) throw new CrowdError('INVALID_MEMBERSHIP', `Cannot add group <${child.name}> to itself`);
  if (ctx.store.descendantsOf([child.lowerName]).has(parent.lowerName)) {
    throw new CrowdError('INVALID_MEMBERSHIP', `Adding group <${child.name}> to <${parent.name}> would create a membership cycle`);
  }
  if (!ctx.store.addChild(parent, child)) throw membershipExists(child.name, parent.name);
}

export const getChildGroupsDirect: Handler = (ctx) => {
  const group = groupFromQuery(ctx);
  const childName = ctx.query.get('child-groupname');
  if (childName === null) return listGroups(ctx, group.children.ordered());
  const child = ctx.store.getGroup(childName);
  if (!child || !group.children.has(child.lowerName)) throw membershipNotFound(childName, group.name);
  return { status: 200, rep: minimalGroupRep(ctx.render, child.name) };
};

export const getChildGroupsNested: Handler = (ctx) => {
  const group = groupFromQuery(ctx);
  const all = ctx.store.descendantsOf([group.lowerName]);
  all.delete(group.lowerName);
  const childName = ctx.query.get('child-groupname');
  if (childName === null) return listGroups(ctx, sorted(all));
  const child = ctx.store.getGroup(childName);
  if (!child || !all.has(child.lowerName)) throw membershipNotFound(childName, group.name);
  return { status: 200, rep: minimalGroupRep(ctx.render, child.name) };
};

export const addChildGroup: Handler = (ctx) => {
  const child = bodyGroupAfter(ctx, () => groupFromQuery(ctx));
  link(ctx, child.url, child.body);
  return {
    status: 201,
    headers: {
      Location: `${ctx.render.base}group/child-group/direct?groupname=${q(child.url.name)}&child-groupname=${q(child.body.name)}`,
    },
  };
};

export const removeChildGroup: Handler = (ctx) => {
  const parent = groupFromQuery(ctx);
  const child = groupFromQuery(ctx, 'child-groupname');
  if (!ctx.store.removeChild(parent, child)) throw membershipNotFound(child.name, parent.name);
  return { status: 204 };
};

export const getParentGroupsDirect: Handler = (ctx) => {
  const group = groupFromQuery(ctx);
  const parentName = ctx.query.get('parent-groupname');
  if (parentName === null) return listGroups(ctx, group.parents.ordered());
  const parent = ctx.store.getGroup(parentName);
  if (!parent || !group.parents.has(parent.lowerName)) throw membershipNotFound(group.name, parentName);
  return { status: 200, rep: minimalGroupRep(ctx.render, parent.name) };
};

export const getParentGroupsNested: Handler = (ctx) => {
  const group = groupFromQuery(ctx);
  const all = ctx.store.ancestorsOf([group.lowerName]);
  all.delete(group.lowerName);
  const parentName = ctx.query.get('parent-groupname');
  if (parentName === null) return listGroups(ctx, sorted(all));
  const parent = ctx.store.getGroup(parentName);
  if (!parent || !all.has(parent.lowerName)) throw membershipNotFound(group.name, parentName);
  return { status: 200, rep: minimalGroupRep(ctx.render, parent.name) };
};

export const addParentGroup: Handler = (ctx) => {
  const pair = bodyGroupAfter(ctx, () => groupFromQuery(ctx));
  link(ctx, pair.body, pair.url);
  return {
    status: 201,
    headers: {
      Location: `${ctx.render.base}group/parent-group/direct?groupname=${q(pair.url.name)}&parent-groupname=${q(pair.body.name)}`,
    },
  };
};

/** Reads the body group first (entity before method), then resolves the URL group (404) and the body group (400). */
function bodyGroupAfter(ctx: RequestContext, urlGroup: () => GroupRecord): { url: GroupRecord; body: GroupRecord } {
  const input = readGroup(ctx);
  const url = urlGroup();
  if (input.name === null) throw illegalArgument('Group name must be given');
  const body = ctx.store.getGroup(input.name);
  if (!body) throw groupNotFound(input.name, 400);
  return { url, body };
}
