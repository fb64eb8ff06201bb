import type {
  AppApplyResult,
  AppChange,
  AppPhoto,
  AppUser,
  DirectoryCallOptions,
  ListAppUsersOptions,
  UserDirectory,
} from '../directory.js';
import { isHtml } from '../../runtime/http-failures.js';
import { malformedSuccess, type RawReply, type WebhookCall } from './errors.js';
import { WebhookClient, type WebhookClientOptions } from './client.js';
import type { ApplyRequestBody, PhotoRequestBody, RolesRequestBody } from './protocol.js';
import { appUserSchema, applyResultSchema, userPageSchema } from './schemas.js';

const DEFAULT_PAGE_SIZE = 1000;

/**
 * The application side behind a signed webhook (docs/app-webhook.md), for applications
 * that idsync cannot reach through their database, such as a PHP site. Every change is
 * one POST; listing and lookups are GETs. Nothing is retried here: each method either
 * returns what the receiver said or throws an error of the shared taxonomy.
 */
export class WebhookDirectory implements UserDirectory {
  readonly kind = 'webhook';
  readonly #client: WebhookClient;

  constructor(options: WebhookClientOptions) {
    this.#client = new WebhookClient(options);
  }

  /** The webhook's address without credentials or query, for logs and `idsync doctor`. */
  get endpoint(): string {
    return this.#client.endpoint;
  }

  async *list(options: ListAppUsersOptions = {}): AsyncIterableIterator<AppUser[]> {
    const size = options.pageSize ?? DEFAULT_PAGE_SIZE;
    const limit = Number.isFinite(size) ? Math.max(1, Math.floor(size)) : DEFAULT_PAGE_SIZE;
    let cursor: string | undefined;
    const seen = new Set<string>();
    for (;;) {
      const call: WebhookCall = { method: 'GET', resource: '/users' };
      const reply = await this.#client.send({ ...call, segments: ['users'], query: { cursor, limit }, abortSignal: options.abortSignal });
      const page = this.#client.parse(call, reply, userPageSchema);
      // A receiver that hands back a cursor it gave before (c1 → c2 → c1) would page forever;
      // an error beats a hang.
      if (page.nextCursor !== null && seen.has(page.nextCursor)) {
        throw malformedSuccess(call, reply, 'a cursor it had already given as nextCursor (the listing would never end)');
      }
      if (page.users.length) yield page.users;
      if (page.nextCursor === null) return;
      seen.add(page.nextCursor);
      cursor = page.nextCursor;
    }
  }

  async get(id: string, options: DirectoryCallOptions = {}): Promise<AppUser | null> {
    const call: WebhookCall = { method: 'GET', resource: '/users/{id}', userId: id };
    const reply = await this.#client.send({ ...call, segments: ['users', id], acceptUnknownUser: true, abortSignal: options.abortSignal });
    if (reply.status === 404) return null;
    const user = this.#client.parse(call, reply, appUserSchema);
    // A cache or a receiver bug answering with someone else's row would be pushed under this id.
    if (user.id !== id) throw malformedSuccess(call, reply, 'another user (a read must answer with the user it names)');
    return user;
  }

  async apply(change: AppChange, options: DirectoryCallOptions = {}): Promise<AppApplyResult> {
    const call: WebhookCall = { method: 'POST', resource: 'user.apply', userId: change.id };
    const json: ApplyRequestBody = { type: 'user.apply', id: change.id, values: change.values, source: change.source, remoteId: change.remoteId };
    const reply = await this.#client.send({ ...call, json, abortSignal: options.abortSignal });
    const result = this.#client.parse(call, reply, applyResultSchema);
    if (change.id !== undefined && (result.id !== change.id || result.created)) {
      throw malformedSuccess(call, reply, 'a result for another user (an update must answer with its own id and created: false)');
    }
    return result;
  }

  async setRoles(id: string, roles: readonly string[], options: DirectoryCallOptions = {}): Promise<boolean> {
    const json: RolesRequestBody = { type: 'user.roles', id, roles: [...roles] };
    const call: WebhookCall = { method: 'POST', resource: 'user.roles', userId: id };
    return acknowledged(call, await this.#client.send({ ...call, json, acceptUnknownUser: true, abortSignal: options.abortSignal }));
  }

  async setPhoto(id: string, photo: AppPhoto | null, options: DirectoryCallOptions = {}): Promise<boolean> {
    const json: PhotoRequestBody = {
      type: 'user.photo',
      id,
      photo: photo && { hash: photo.hash, contentType: photo.contentType, data: photo.data.toString('base64') },
    };
    const call: WebhookCall = { method: 'POST', resource: 'user.photo', userId: id };
    return acknowledged(call, await this.#client.send({ ...call, json, acceptUnknownUser: true, abortSignal: options.abortSignal }));
  }

  async close(): Promise<void> {
    this.#client.close();
  }
}

/**
 * A roles or photo reply's body is not read, but a 2xx carrying an HTML page is a login page or
 * proxy answering instead of the application: counting it as applied would lose the change.
 * JSON or nothing under `text/html` is not a page: PHP labels everything so unless told otherwise.
 */
function acknowledged(call: WebhookCall, reply: RawReply): boolean {
  // A 404 comes back only with a JSON body (the receiver's "no such user"), never as a page.
  if (isPage(reply)) throw malformedSuccess(call, reply);
  return reply.status !== 404;
}

const isPage = (reply: RawReply): boolean => reply.json === undefined && reply.text.trim() !== '' && isHtml(reply);
