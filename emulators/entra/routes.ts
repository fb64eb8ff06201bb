import type { Core } from './core.js';
import { deletedItemsWithoutCast, getDeletedItem, listDeletedUsers, purgeDeletedItem, restoreDeletedItem } from './deleted-items.js';
import { userDelta } from './delta.js';
import { methodNotAllowed, segmentNotFound } from './errors.js';
import { addMemberRef, createGroup, deleteGroup, getGroup, listGroups, listMemberOf, listMembers, patchGroup, removeMemberRef } from './groups.js';
import { SYSTEM_SEGMENTS, type GraphRequest, type GraphResponse } from './http.js';
import { getOrganization, listOrganization } from './organization.js';
import { deletePhoto, getPhotoMetadata, getPhotoValue, putPhotoValue } from './photos.js';
import type { CostKind } from './throttling.js';
import { countUsers, createUser, deleteUser, getUser, listUsers, patchUser } from './users.js';

type Handler = (req: GraphRequest, core: Core, params: string[]) => GraphResponse;

interface Route {
  method: string;
  /** Literal segments, or ':' for a parameter. */
  pattern: string[];
  cost: CostKind;
  handler: Handler;
}

function route(method: string, path: string, handler: Handler, cost: CostKind = 'other'): Route {
  return { method, pattern: path.split('/').filter(Boolean).map((s) => (s.startsWith(':') ? ':' : s.toLowerCase())), cost, handler };
}

const p = (params: string[], i: number): string => params[i] ?? '';

const ROUTES: Route[] = [
  route('GET', 'users', (r, c) => listUsers(r, c), 'usersList'),
  route('POST', 'users', (r, c) => createUser(r, c)),
  route('GET', 'users/$count', (r, c) => countUsers(r, c)),
  route('GET', 'users/delta', (r, c) => userDelta(r, c)),
  route('GET', 'users/:id', (r, c, a) => getUser(r, c, p(a, 0))),
  route('PATCH', 'users/:id', (r, c, a) => patchUser(r, c, p(a, 0))),
  route('DELETE', 'users/:id', (r, c, a) => deleteUser(r, c, p(a, 0))),
  route('GET', 'users/:id/memberOf', (r, c, a) => listMemberOf(r, c, p(a, 0), false), 'memberOf'),
  route('GET', 'users/:id/transitiveMemberOf', (r, c, a) => listMemberOf(r, c, p(a, 0), true), 'memberOf'),
  route('GET', 'users/:id/photo', (r, c, a) => getPhotoMetadata(r, c, p(a, 0))),
  route('DELETE', 'users/:id/photo', (r, c, a) => deletePhoto(r, c, p(a, 0))),
  route('GET', 'users/:id/photo/$value', (r, c, a) => getPhotoValue(r, c, p(a, 0))),
  route('PUT', 'users/:id/photo/$value', (r, c, a) => putPhotoValue(r, c, p(a, 0))),
  route('GET', 'groups', (r, c) => listGroups(r, c)),
  route('POST', 'groups', (r, c) => createGroup(r, c)),
  route('GET', 'groups/:id', (r, c, a) => getGroup(r, c, p(a, 0))),
  route('PATCH', 'groups/:id', (r, c, a) => patchGroup(r, c, p(a, 0))),
  route('DELETE', 'groups/:id', (r, c, a) => deleteGroup(r, c, p(a, 0))),
  route('GET', 'groups/:id/members', (r, c, a) => listMembers(r, c, p(a, 0), false), 'groupMembers'),
  route('GET', 'groups/:id/transitiveMembers', (r, c, a) => listMembers(r, c, p(a, 0), true), 'groupTransitiveMembers'),
  route('POST', 'groups/:id/members/$ref', (r, c, a) => addMemberRef(r, c, p(a, 0))),
  route('DELETE', 'groups/:id/members/:id/$ref', (r, c, a) => removeMemberRef(r, c, p(a, 0), p(a, 1))),
  route('GET', 'organization', (r, c) => listOrganization(r, c)),
  route('GET', 'organization/:id', (r, c, a) => getOrganization(r, c, p(a, 0))),
  route('GET', 'directory/deletedItems', () => deletedItemsWithoutCast()),
  route('GET', 'directory/deletedItems/microsoft.graph.user', (r, c) => listDeletedUsers(r, c)),
  route('GET', 'directory/deletedItems/:id', (r, c, a) => getDeletedItem(r, c, p(a, 0))),
  route('DELETE', 'directory/deletedItems/:id', (r, c, a) => purgeDeletedItem(r, c, p(a, 0))),
  route('POST', 'directory/deletedItems/:id/restore', (r, c, a) => restoreDeletedItem(r, c, p(a, 0))),
];

export interface RouteMatch {
  route: Route;
  params: string[];
}

/**
 * Literal segments win over parameters (`users/delta` before `users/:id`). An unknown
 * path is Graph's 400 "Resource not found for the segment"; a known path with the wrong
 * method is 405.
 */
export function matchRoute(method: string, segments: string[]): RouteMatch {
  let best: { route: Route; params: string[]; literals: number } | undefined;
  let pathKnown = false;
  let deepest = 0;
  for (const r of ROUTES) {
    let matched = 0;
    const params: string[] = [];
    let literals = 0;
    for (; matched < r.pattern.length && matched < segments.length; matched++) {
      const pat = r.pattern[matched]!;
      const seg = segments[matched]!;
      if (pat === ':') {
        // A parameter never swallows a system segment such as $count.
        if (SYSTEM_SEGMENTS.has(seg)) break;
        params.push(seg);
      } else if (pat === seg.toLowerCase()) literals++;
      else break;
    }
    deepest = Math.max(deepest, matched);
    if (matched !== r.pattern.length || matched !== segments.length) continue;
    if (r.method !== method) {
      pathKnown = true;
      continue;
    }
    if (!best || literals > best.literals) best = { route: r, params, literals };
  }
  if (best) return { route: best.route, params: best.params };
  if (pathKnown) throw methodNotAllowed();
  throw segmentNotFound(segments[Math.min(deepest, segments.length - 1)] ?? '');
}
