// Wire shapes of Crowd 5.x entities (reference §1.1, S2 JAXB/Jackson annotations): hyphenated
// keys, absolute links built from the request's base URI with the stored (canonical) name,
// a password stub, an attributes object that is always present, epoch-ms dates in JSON and
// xs:dateTime in XML. Jackson omits nulls, so null fields are left out of JSON.
import type { DirectoryStore, GroupRecord, UserRecord } from './store.js';
import { XML_PROLOG, el, textEl } from './xml.js';

/** A reply body that can be written in either negotiated format. */
export interface Representation {
  json(): unknown;
  xml(): string;
}

export interface RenderContext {
  /** e.g. `http://127.0.0.1:8095/crowd/rest/usermanagement/1/` */
  base: string;
  store: DirectoryStore;
  /** Crowd 6.x documentation shape: `user`/`group`/`attribute` list keys instead of plurals. */
  singularListKeys: boolean;
}

interface Link {
  rel: 'self' | 'edit';
  href: string;
}

const q = encodeURIComponent;
const linkJson = (rel: Link['rel'], href: string): Link => ({ rel, href });
const linkXml = (rel: Link['rel'], href: string): string => el('link', { href, rel });

export const userUri = (ctx: RenderContext, name: string): string => `${ctx.base}user?username=${q(name)}`;
export const groupUri = (ctx: RenderContext, name: string): string => `${ctx.base}group?groupname=${q(name)}`;
const userAttrUri = (ctx: RenderContext, name: string): string => `${ctx.base}user/attribute?username=${q(name)}`;
const groupAttrUri = (ctx: RenderContext, name: string): string => `${ctx.base}group/attribute?groupname=${q(name)}`;
const passwordUri = (ctx: RenderContext, name: string): string => `${ctx.base}user/password?username=${q(name)}`;

function sortedAttributes(attrs: Map<string, string[]>): [string, string[]][] {
  return [...attrs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

// ---- attributes ----

function attributesJson(ctx: RenderContext, listUri: string, attrs: Map<string, string[]> | null): unknown {
  const items = attrs
    ? sortedAttributes(attrs).map(([name, values]) => ({
        link: linkJson('self', `${listUri}&attributename=${q(name)}`),
        name,
        values,
      }))
    : [];
  return { link: linkJson('self', listUri), [ctx.singularListKeys ? 'attribute' : 'attributes']: items };
}

function attributesXml(listUri: string, attrs: Map<string, string[]> | null): string {
  const items = attrs
    ? sortedAttributes(attrs).map(([name, values]) =>
        el(
          'attribute',
          { name },
          linkXml('self', `${listUri}&attributename=${q(name)}`),
          el('values', null, ...values.map((v) => textEl('value', v) ?? '<value/>')),
        ),
      )
    : [];
  return el('attributes', null, ...items, linkXml('self', listUri));
}

export function userAttributesRep(ctx: RenderContext, user: UserRecord): Representation {
  const uri = userAttrUri(ctx, user.name);
  return {
    json: () => attributesJson(ctx, uri, user.attributes),
    xml: () => XML_PROLOG + attributesXml(uri, user.attributes),
  };
}

export function groupAttributesRep(ctx: RenderContext, group: GroupRecord): Representation {
  const uri = groupAttrUri(ctx, group.name);
  return {
    json: () => attributesJson(ctx, uri, group.attributes),
    xml: () => XML_PROLOG + attributesXml(uri, group.attributes),
  };
}

// ---- users ----

export function userJson(ctx: RenderContext, u: UserRecord, withAttributes: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {
    expand: 'attributes',
    link: linkJson('self', userUri(ctx, u.name)),
    name: u.name,
  };
  if (u.firstName !== null) out['first-name'] = u.firstName;
  if (u.lastName !== null) out['last-name'] = u.lastName;
  if (u.displayName !== null) out['display-name'] = u.displayName;
  if (u.email !== null) out['email'] = u.email;
  out['active'] = u.active;
  out['key'] = ctx.store.keyOf(u);
  out['password'] = { link: linkJson('edit', passwordUri(ctx, u.name)) };
  out['attributes'] = attributesJson(ctx, userAttrUri(ctx, u.name), withAttributes ? u.attributes : null);
  out['created-date'] = u.createdDate;
  out['updated-date'] = u.updatedDate;
  return out;
}

export function userXml(ctx: RenderContext, u: UserRecord, withAttributes: boolean): string {
  return el(
    'user',
    { expand: 'attributes', name: u.name },
    linkXml('self', userUri(ctx, u.name)),
    textEl('first-name', u.firstName),
    textEl('last-name', u.lastName),
    textEl('display-name', u.displayName),
    textEl('email', u.email),
    el('password', null, linkXml('edit', passwordUri(ctx, u.name))),
    textEl('key', ctx.store.keyOf(u)),
    textEl('created-date', new Date(u.createdDate).toISOString()),
    textEl('updated-date', new Date(u.updatedDate).toISOString()),
    textEl('active', u.active),
    attributesXml(userAttrUri(ctx, u.name), withAttributes ? u.attributes : null),
  );
}

export function userRep(ctx: RenderContext, u: UserRecord, withAttributes: boolean): Representation {
  return {
    json: () => userJson(ctx, u, withAttributes),
    xml: () => XML_PROLOG + userXml(ctx, u, withAttributes),
  };
}

export const minimalUserJson = (ctx: RenderContext, name: string): unknown => ({
  link: linkJson('self', userUri(ctx, name)),
  name,
});
export const minimalUserXml = (ctx: RenderContext, name: string): string =>
  el('user', { name }, linkXml('self', userUri(ctx, name)));

export function minimalUserRep(ctx: RenderContext, name: string): Representation {
  return { json: () => minimalUserJson(ctx, name), xml: () => XML_PROLOG + minimalUserXml(ctx, name) };
}

export interface ListOptions {
  expand: boolean;
  withAttributes: boolean;
}

export function userListRep(ctx: RenderContext, users: readonly UserRecord[], opts: ListOptions): Representation {
  return {
    json: () => ({
      expand: 'user',
      [ctx.singularListKeys ? 'user' : 'users']: users.map((u) =>
        opts.expand ? userJson(ctx, u, opts.withAttributes) : minimalUserJson(ctx, u.name),
      ),
    }),
    xml: () =>
      XML_PROLOG +
      el(
        'users',
        { expand: 'user' },
        ...users.map((u) => (opts.expand ? userXml(ctx, u, opts.withAttributes) : minimalUserXml(ctx, u.name))),
      ),
  };
}

// ---- groups ----

function groupJson(ctx: RenderContext, g: GroupRecord, withAttributes: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { link: linkJson('self', groupUri(ctx, g.name)), name: g.name };
  if (g.description !== null) out['description'] = g.description;
  out['type'] = g.type;
  out['active'] = g.active;
  out['expand'] = 'attributes';
  out['attributes'] = attributesJson(ctx, groupAttrUri(ctx, g.name), withAttributes ? g.attributes : null);
  return out;
}

function groupXml(ctx: RenderContext, g: GroupRecord, withAttributes: boolean): string {
  return el(
    'group',
    { expand: 'attributes', name: g.name },
    linkXml('self', groupUri(ctx, g.name)),
    textEl('description', g.description),
    textEl('type', g.type),
    textEl('active', g.active),
    attributesXml(groupAttrUri(ctx, g.name), withAttributes ? g.attributes : null),
  );
}

export function groupRep(ctx: RenderContext, g: GroupRecord, withAttributes: boolean): Representation {
  return {
    json: () => groupJson(ctx, g, withAttributes),
    xml: () => XML_PROLOG + groupXml(ctx, g, withAttributes),
  };
}

export const minimalGroupJson = (ctx: RenderContext, name: string): unknown => ({
  link: linkJson('self', groupUri(ctx, name)),
  name,
});
export const minimalGroupXml = (ctx: RenderContext, name: string): string =>
  el('group', { name }, linkXml('self', groupUri(ctx, name)));

export function minimalGroupRep(ctx: RenderContext, name: string): Representation {
  return { json: () => minimalGroupJson(ctx, name), xml: () => XML_PROLOG + minimalGroupXml(ctx, name) };
}

export function groupListRep(ctx: RenderContext, groups: readonly GroupRecord[], opts: ListOptions): Representation {
  return {
    json: () => ({
      expand: 'group',
      [ctx.singularListKeys ? 'group' : 'groups']: groups.map((g) =>
        opts.expand ? groupJson(ctx, g, opts.withAttributes) : minimalGroupJson(ctx, g.name),
      ),
    }),
    xml: () =>
      XML_PROLOG +
      el(
        'groups',
        { expand: 'group' },
        ...groups.map((g) => (opts.expand ? groupXml(ctx, g, opts.withAttributes) : minimalGroupXml(ctx, g.name))),
      ),
  };
}

/** `GET /group/membership`: XML only, every group with its direct users and child groups. */
export function membershipsXml(store: DirectoryStore): string {
  const items = store.orderedGroups().map((lowerName) => {
    const g = store.getGroupByLower(lowerName) as GroupRecord;
    const users = g.users.ordered().map((u) => el('user', { name: store.getUserByLower(u)?.name ?? u }));
    const groups = g.children.ordered().map((c) => el('group', { name: store.getGroupByLower(c)?.name ?? c }));
    return el('membership', { group: g.name }, el('users', null, ...users), el('groups', null, ...groups));
  });
  return XML_PROLOG + el('memberships', null, ...items);
}

// ---- errors ----

export function errorRep(reason: string, message: string): Representation {
  return {
    json: () => ({ reason, message }),
    xml: () => XML_PROLOG + el('error', null, textEl('reason', reason), textEl('message', message)),
  };
}
