// `GET /event` and `GET /event/{token}` (reference §7, S2 RestCrowdClient): a token for the
// current position of the change log, and the events after a token with the next token. XML
// is Crowd's documented shape (`<events newEventToken=".." incrementalSynchronisationAvailable="true">`
// holding userEvent, groupEvent, userMembershipEvent and groupMembershipEvent elements); the
// JSON rendition is not documented and is this emulator's reading of the same entities.
import type { Handler, RequestContext } from '../context.js';
import {
  minimalGroupJson,
  minimalGroupXml,
  minimalUserJson,
  minimalUserXml,
  userJson,
  userXml,
  type RenderContext,
  type Representation,
} from '../entities.js';
import { CrowdError } from '../errors.js';
import type { DirectoryEvent } from '../event-log.js';
import { XML_PROLOG, el, textEl } from '../xml.js';

function checkAvailable(ctx: RequestContext): void {
  if (!ctx.faults.incrementalSync) {
    throw new CrowdError('INCREMENTAL_SYNC_NOT_AVAILABLE', 'Incremental synchronisation is not available for this application.');
  }
}

export const getEventToken: Handler = (ctx) => {
  checkAvailable(ctx);
  return { status: 200, rep: eventsRep(ctx.render, ctx.store.events.currentToken(), []) };
};

export const getEventsSince: Handler = (ctx) => {
  checkAvailable(ctx);
  const token = decodeURIComponent(ctx.route.slice('event/'.length));
  // The next token is taken before reading, so nothing recorded in between is skipped.
  const next = ctx.store.events.currentToken();
  const events = ctx.store.events.since(token);
  if (!events) throw new CrowdError('EVENT_TOKEN_EXPIRED', `Event token <${token}> has expired or is not known.`);
  return { status: 200, rep: eventsRep(ctx.render, next, events) };
};

function eventsRep(ctx: RenderContext, token: string, events: readonly DirectoryEvent[]): Representation {
  const attrs = { newEventToken: token, incrementalSynchronisationAvailable: 'true' };
  return {
    json: () => ({ ...attrs, incrementalSynchronisationAvailable: true, events: events.map((e) => eventJson(ctx, e)) }),
    xml: () => XML_PROLOG + el('events', attrs, ...events.map((e) => eventXml(ctx, e))),
  };
}

/** A created or updated user as it is now; a deleted (or since renamed) one by name only. */
function userNow(ctx: RenderContext, name: string, operation: string): { json: unknown; xml: string } {
  const user = operation === 'DELETED' ? undefined : ctx.store.getUser(name);
  return user && user.name === name
    ? { json: userJson(ctx, user, false), xml: userXml(ctx, user, false) }
    : { json: minimalUserJson(ctx, name), xml: minimalUserXml(ctx, name) };
}

function eventXml(ctx: RenderContext, e: DirectoryEvent): string {
  const op = textEl('operation', e.operation);
  switch (e.kind) {
    case 'user':
      return el('userEvent', null, op, userNow(ctx, e.name, e.operation).xml);
    case 'group':
      return el('groupEvent', null, op, minimalGroupXml(ctx, e.name));
    case 'userMembership':
      return el('userMembershipEvent', null, op, el('childUser', { name: e.user }), el('parentGroups', null, minimalGroupXml(ctx, e.group)));
    case 'groupMembership':
      return el('groupMembershipEvent', null, op, minimalGroupXml(ctx, e.child), el('parentGroups', null, minimalGroupXml(ctx, e.parent)), el('childGroups', null));
  }
}

function eventJson(ctx: RenderContext, e: DirectoryEvent): Record<string, unknown> {
  switch (e.kind) {
    case 'user':
      return { type: 'userEvent', operation: e.operation, user: userNow(ctx, e.name, e.operation).json };
    case 'group':
      return { type: 'groupEvent', operation: e.operation, group: minimalGroupJson(ctx, e.name) };
    case 'userMembership':
      return { type: 'userMembershipEvent', operation: e.operation, childUser: { name: e.user }, parentGroups: { groups: [minimalGroupJson(ctx, e.group)] } };
    case 'groupMembership':
      return { type: 'groupMembershipEvent', operation: e.operation, group: minimalGroupJson(ctx, e.child), parentGroups: { groups: [minimalGroupJson(ctx, e.parent)] }, childGroups: { groups: [] } };
  }
}
