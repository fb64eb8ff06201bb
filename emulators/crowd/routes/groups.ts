// /group and /group/attribute (reference §5).
import type { Handler, RequestContext } from '../context.js';
import { groupAttributesRep, groupRep, groupUri } from '../entities.js';
import { readGroup } from '../entity-input.js';
import { CrowdError, groupNotFound, illegalArgument } from '../errors.js';
import { readAttributes } from '../input.js';
import { expands, requireParam } from '../params.js';
import type { GroupRecord, GroupType } from '../store.js';
import { checkGroupName, storeAttributes, truncate } from '../user-rules.js';

export function groupFromQuery(ctx: RequestContext, param = 'groupname'): GroupRecord {
  const name = requireParam(ctx, param);
  const group = ctx.store.getGroup(name);
  if (!group) throw groupNotFound(name);
  return group;
}

function groupType(raw: string | null): GroupType {
  if (raw === null) return 'GROUP';
  const t = raw.toUpperCase();
  if (t === 'GROUP' || t === 'LEGACY_ROLE') return t;
  throw illegalArgument(`No enum constant com.atlassian.crowd.model.group.GroupType.${raw}`);
}

export const getGroup: Handler = (ctx) => {
  const group = groupFromQuery(ctx);
  return { status: 200, rep: groupRep(ctx.render, group, expands(ctx).has('attributes')) };
};

export const createGroup: Handler = (ctx) => {
  const input = readGroup(ctx);
  const name = checkGroupName(input.name);
  const type = groupType(input.type);
  if (ctx.store.getGroup(name)) throw new CrowdError('INVALID_GROUP', 'Group already exists');
  const attributes = new Map<string, string[]>();
  if (input.attributes) storeAttributes(attributes, input.attributes);
  const group = ctx.store.addGroup({
    name,
    description: truncate(input.description),
    type,
    active: input.active ?? true,
    attributes,
  });
  return { status: 201, headers: { Location: groupUri(ctx.render, group.name) } };
};

/** Crowd 2.x answers 200 with the updated group; clients treat any 2xx as success. */
export const updateGroup: Handler = (ctx) => {
  const groupname = requireParam(ctx, 'groupname');
  const input = readGroup(ctx);
  if (input.name === null || input.name.toLowerCase() !== groupname.toLowerCase()) {
    throw new CrowdError('INVALID_GROUP', `The names of the resource location <${groupname}> and object <${input.name}> are not equal`);
  }
  const group = ctx.store.getGroup(groupname);
  if (!group) throw groupNotFound(groupname);
  group.description = truncate(input.description);
  group.type = groupType(input.type);
  group.active = input.active ?? true;
  group.updatedDate = ctx.store.now();
  return { status: 200, rep: groupRep(ctx.render, group, false) };
};

export const deleteGroup: Handler = (ctx) => {
  ctx.store.removeGroup(groupFromQuery(ctx));
  return { status: 204 };
};

export const getGroupAttributes: Handler = (ctx) => {
  return { status: 200, rep: groupAttributesRep(ctx.render, groupFromQuery(ctx)) };
};

export const storeGroupAttributes: Handler = (ctx) => {
  const attributes = readAttributes(ctx);
  const group = groupFromQuery(ctx);
  storeAttributes(group.attributes, attributes);
  group.updatedDate = ctx.store.now();
  return { status: 204 };
};

export const deleteGroupAttribute: Handler = (ctx) => {
  const group = groupFromQuery(ctx);
  const attribute = requireParam(ctx, 'attributename');
  if (group.attributes.delete(attribute)) group.updatedDate = ctx.store.now();
  return { status: 204 };
};
