// Resource table of `rest/usermanagement/1`. Unknown paths are Jersey 404s, known paths with
// another method are 405s; `/group/membership` produces XML only.
import type { Handler } from './context.js';
import { membershipsXml } from './entities.js';
import type { Format } from './negotiation.js';
import * as events from './routes/events.js';
import * as groups from './routes/groups.js';
import * as members from './routes/memberships.js';
import * as search from './routes/search.js';
import * as users from './routes/users.js';

export interface RouteDef {
  methods: Partial<Record<string, Handler>>;
  produces: readonly Format[];
}

const BOTH: readonly Format[] = ['xml', 'json'];

const getMemberships: Handler = (ctx) => ({
  status: 200,
  rep: {
    json: () => {
      throw new Error('XML only');
    },
    xml: () => membershipsXml(ctx.store),
  },
});

const getCookieConfig: Handler = () => ({
  status: 200,
  rep: {
    json: () => ({ domain: '', secure: false, name: 'crowd.token_key' }),
    xml: () =>
      '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><cookie-config><domain></domain><secure>false</secure><name>crowd.token_key</name></cookie-config>',
  },
});

const table: Record<string, Partial<Record<string, Handler>>> = {
  user: { GET: users.getUser, POST: users.createUser, PUT: users.updateUser, DELETE: users.deleteUser },
  'user/rename': { POST: users.renameUser },
  'user/password': { PUT: users.updatePassword, DELETE: users.deletePassword },
  'user/attribute': { GET: users.getUserAttributes, POST: users.storeUserAttributes, DELETE: users.deleteUserAttribute },
  'user/group/direct': { GET: members.getUserGroupsDirect, POST: members.addUserGroup, DELETE: members.removeUserGroup },
  'user/group/nested': { GET: members.getUserGroupsNested },
  'user/mail/password': { POST: users.mailPassword },
  'user/mail/usernames': { POST: users.mailUsernames },
  authentication: { POST: users.authenticate },
  group: { GET: groups.getGroup, POST: groups.createGroup, PUT: groups.updateGroup, DELETE: groups.deleteGroup },
  'group/attribute': { GET: groups.getGroupAttributes, POST: groups.storeGroupAttributes, DELETE: groups.deleteGroupAttribute },
  'group/user/direct': { GET: members.getGroupUsersDirect, POST: members.addGroupUser, DELETE: members.removeGroupUser },
  'group/user/nested': { GET: members.getGroupUsersNested },
  'group/child-group/direct': { GET: members.getChildGroupsDirect, POST: members.addChildGroup, DELETE: members.removeChildGroup },
  'group/child-group/nested': { GET: members.getChildGroupsNested },
  'group/parent-group/direct': { GET: members.getParentGroupsDirect, POST: members.addParentGroup },
  'group/parent-group/nested': { GET: members.getParentGroupsNested },
  'group/membership': { GET: getMemberships },
  search: { GET: search.searchByCql, POST: search.searchByBody },
  'config/cookie': { GET: getCookieConfig },
  event: { GET: events.getEventToken },
  'event/{token}': { GET: events.getEventsSince },
};

const XML_ONLY = new Set(['group/membership']);

export const ROUTES: ReadonlyMap<string, RouteDef> = new Map(
  Object.entries(table).map(([path, methods]) => [path, { methods, produces: XML_ONLY.has(path) ? ['xml'] : BOTH }]),
);

/** The route table key of a path below `rest/usermanagement/1/` (`event/<token>` → `event/{token}`). */
export function routeKey(sub: string): string | undefined {
  if (ROUTES.has(sub)) return sub;
  return /^event\/[^/]+$/.test(sub) ? 'event/{token}' : undefined;
}
