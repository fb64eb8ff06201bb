// An idsync webhook receiver in plain Node (no dependencies), keeping users in memory.
// It implements the whole protocol of docs/app-webhook.md and is meant to be read next to
// it: port it to your application's language and swap the Map for your users table.
//
//   APP_WEBHOOK_SECRET=... PORT=8080 node examples/webhook-receiver/server.mjs
//   → point idsync at APP_WEBHOOK_URL=http://127.0.0.1:8080/idsync

import { Buffer } from 'node:buffer';
import console from 'node:console';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import process from 'node:process';
import { URL, pathToFileURL } from 'node:url';

export const REPLAY_WINDOW_SECONDS = 300;
const MAX_BODY_BYTES = 10 * 1024 * 1024;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

// ---- signature ----

/**
 * Checks X-Idsync-Timestamp / -Delivery / -Signature against the request as received:
 * the method, the request target exactly as on the request line, and the raw body bytes.
 */
export function verifyRequest({ secret, method, path, headers, body, nowMs = Date.now() }) {
  const timestamp = headerOf(headers, 'x-idsync-timestamp');
  const deliveryId = headerOf(headers, 'x-idsync-delivery');
  const signature = headerOf(headers, 'x-idsync-signature');
  if (!timestamp || !deliveryId || !signature || !/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'missing-headers' };
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > REPLAY_WINDOW_SECONDS) return { ok: false, reason: 'stale' };
  const expected = createHmac('sha256', secret)
    .update(`${timestamp}\n${deliveryId}\n${method.toUpperCase()}\n${path}\n`)
    .update(body)
    .digest();
  // Several v1= entries may come (comma-separated); any one that matches will do.
  const match = signature.split(',').some((part) => {
    const hex = /^v1=([0-9a-f]{64})$/i.exec(part.trim())?.[1];
    return hex !== undefined && timingSafeEqual(Buffer.from(hex, 'hex'), expected);
  });
  return match ? { ok: true, deliveryId } : { ok: false, reason: 'bad-signature' };
}

function headerOf(headers, name) {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

// ---- the user store ----

/** Shorter ids first, then by code unit: numeric ids come out in numeric order, any ids in a total order. */
export const compareIds = (a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

const PROFILE_FIELDS = ['username', 'email', 'firstName', 'lastName', 'displayName', 'active', 'groups', 'attributes'];
const CLEARABLE = new Set(['firstName', 'lastName', 'displayName']);

class Refusal extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const same = (a, b) => canonical(a) === canonical(b);
const canonical = (v) =>
  v === null || typeof v !== 'object'
    ? JSON.stringify(v)
    : Array.isArray(v)
      ? `[${v.map(canonical).join(',')}]`
      : `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;

const isStringArray = (v) => Array.isArray(v) && v.every((s) => typeof s === 'string');
const isAttributes = (v) =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string' || isStringArray(x));

/** Checks one value of `values`; unknown keys were dropped before (newer idsync versions may add some). */
function checkValue(field, value) {
  if (value === null) {
    if (!CLEARABLE.has(field)) throw new Refusal(422, `${field} cannot be cleared`);
    return;
  }
  const ok =
    field === 'active' ? typeof value === 'boolean'
      : field === 'groups' ? isStringArray(value)
        : field === 'attributes' ? isAttributes(value)
          : typeof value === 'string' && (CLEARABLE.has(field) || value.trim() !== '');
  if (!ok) throw new Refusal(422, `${field} has the wrong type`);
}

export class UserStore {
  constructor(users = new Map(), photos = new Map()) {
    this.users = users;
    this.photos = photos;
    this.nextId = 1;
  }

  list(afterId, limit) {
    const ids = [...this.users.keys()].sort(compareIds);
    const start = afterId === undefined ? 0 : ids.findIndex((id) => compareIds(id, afterId) > 0);
    const from = start < 0 ? ids.length : start;
    const page = ids.slice(from, from + limit);
    const more = from + limit < ids.length;
    return { users: page.map((id) => this.users.get(id)), last: more ? page.at(-1) : undefined };
  }

  // A real application finds these with its database's (case-insensitive) unique indexes.
  findBy(field, value, exceptId) {
    const wanted = String(value).toLowerCase();
    for (const user of this.users.values()) {
      if (user.id !== exceptId && String(user[field]).toLowerCase() === wanted) return user;
    }
    return undefined;
  }

  /** user.apply: update by id, else adopt by username then e-mail, else create. */
  apply({ id, values }) {
    const fields = PROFILE_FIELDS.filter((f) => Object.hasOwn(values, f) && values[f] !== undefined);
    for (const f of fields) checkValue(f, values[f]);
    let user = id === undefined ? undefined : this.users.get(id);
    if (id !== undefined && !user) throw new Refusal(404, 'unknown user');
    user ??= (values.username && this.findBy('username', values.username)) || (values.email && this.findBy('email', values.email)) || undefined;

    for (const f of ['username', 'email']) {
      if (typeof values[f] === 'string' && this.findBy(f, values[f], user?.id)) throw new Refusal(409, `another user has this ${f}`);
    }
    if (!user) {
      if (!values.username || !values.email) throw new Refusal(422, 'username and email are required to create a user');
      while (this.users.has(String(this.nextId))) this.nextId++;
      const created = { id: String(this.nextId++), username: values.username, email: values.email, active: true, version: 1 };
      for (const f of fields) if (values[f] !== null) created[f] = values[f];
      this.users.set(created.id, created);
      return { id: created.id, created: true, changed: fields.filter((f) => values[f] !== null) };
    }

    const changed = fields.filter((f) => !same(user[f] ?? null, values[f]));
    if (changed.length) {
      const next = { ...user, version: (user.version ?? 0) + 1 };
      for (const f of changed) {
        if (values[f] === null) delete next[f];
        else next[f] = values[f];
      }
      this.users.set(user.id, next);
    }
    return { id: user.id, created: false, changed };
  }

  setRoles(id, roles) {
    const user = this.users.get(id);
    if (!user) return false;
    const next = [...new Set(roles)];
    if (!same(user.roles ?? [], next)) this.users.set(id, { ...user, roles: next, version: (user.version ?? 0) + 1 });
    return true;
  }

  setPhoto(id, photo) {
    const user = this.users.get(id);
    if (!user) return false;
    if (photo === null) {
      this.photos.delete(id);
      if (user.photoHash !== undefined) {
        const { photoHash: _removed, ...rest } = user;
        this.users.set(id, { ...rest, version: (user.version ?? 0) + 1 });
      }
      return true;
    }
    const data = Buffer.from(photo.data, 'base64');
    if (createHash('sha256').update(data).digest('hex') !== photo.hash.toLowerCase()) throw new Refusal(422, 'photo.hash is not the SHA-256 of photo.data');
    this.photos.set(id, { contentType: photo.contentType, data });
    if (user.photoHash !== photo.hash) this.users.set(id, { ...user, photoHash: photo.hash, version: (user.version ?? 0) + 1 });
    return true;
  }
}

// ---- HTTP ----

const encodeCursor = (id) => Buffer.from(id, 'utf8').toString('base64url');
function decodeCursor(cursor) {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Refusal(400, 'invalid cursor');
  return Buffer.from(cursor, 'base64url').toString('utf8');
}

function parseLimit(raw) {
  if (raw === null) return DEFAULT_LIMIT;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new Refusal(400, 'limit must be a whole number from 1');
  return Math.min(Number(raw), MAX_LIMIT);
}

/** Routes one verified request; answers { status, body } (body undefined = no content). */
function route(store, base, method, target, raw) {
  const url = new URL(target, 'http://receiver');
  if (method === 'POST' && url.pathname === (base || '/')) return change(store, raw);
  if (method === 'GET' && url.pathname === `${base}/users`) {
    const cursor = url.searchParams.get('cursor');
    const { users, last } = store.list(cursor === null ? undefined : decodeCursor(cursor), parseLimit(url.searchParams.get('limit')));
    return { status: 200, body: { users, nextCursor: last === undefined ? null : encodeCursor(last) } };
  }
  const one = method === 'GET' && url.pathname.startsWith(`${base}/users/`) ? url.pathname.slice(base.length + 7) : undefined;
  if (one && !one.includes('/')) {
    const user = store.users.get(decodeSegment(one));
    return user ? { status: 200, body: user } : { status: 404, body: { error: 'unknown user' } };
  }
  // Not JSON on purpose: idsync reads a JSON 404 as "no such user", anything else as a wrong URL.
  return { status: 404, text: 'no such route' };
}

function decodeSegment(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new Refusal(400, 'the id is not valid percent-encoding');
  }
}

function change(store, raw) {
  let body;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new Refusal(400, 'the body is not JSON');
  }
  if (body === null || typeof body !== 'object') throw new Refusal(400, 'the body is not a JSON object');
  const id = body.id;
  if (id !== undefined && (typeof id !== 'string' || id === '')) throw new Refusal(400, 'id must be a non-empty string');
  switch (body.type) {
    case 'user.apply':
      if (body.values === null || typeof body.values !== 'object' || Array.isArray(body.values)) throw new Refusal(400, 'values must be an object');
      if (typeof body.source !== 'string') throw new Refusal(400, 'source must be a string');
      return { status: 200, body: store.apply({ id, values: body.values }) };
    case 'user.roles':
      if (id === undefined || !isStringArray(body.roles)) throw new Refusal(400, 'user.roles needs id and roles (strings)');
      return store.setRoles(id, body.roles) ? { status: 204 } : { status: 404, body: { error: 'unknown user' } };
    case 'user.photo': {
      const p = body.photo;
      const valid = p === null || (p && typeof p.hash === 'string' && typeof p.contentType === 'string' && typeof p.data === 'string');
      if (id === undefined || !valid) throw new Refusal(400, 'user.photo needs id and photo ({hash, contentType, data} or null)');
      return store.setPhoto(id, p) ? { status: 204 } : { status: 404, body: { error: 'unknown user' } };
    }
    default:
      throw new Refusal(400, 'unknown type');
  }
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Refusal(413, 'body too large'));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res, { status, body, text }) {
  if (body !== undefined) {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  } else if (text !== undefined) {
    res.writeHead(status, { 'content-type': 'text/plain' }).end(text);
  } else {
    res.writeHead(status).end();
  }
}

/**
 * Starts the receiver on 127.0.0.1 (or `host`). `store` (id → user) seeds it and is the
 * Map returned as `users`; photos are kept apart in `photos`.
 */
export async function startReceiver({ port = 0, host = '127.0.0.1', secret, store, path = '/idsync', log } = {}) {
  if (!secret) throw new Error('startReceiver needs the shared secret (APP_WEBHOOK_SECRET)');
  // Without a trailing slash; '' when the receiver sits at the root.
  const base = path.replace(/\/+$/, '').replace(/^(?!\/|$)/, '/');
  const memory = new UserStore(store ?? new Map());
  // Answers already given, by delivery id, kept for the replay window: a duplicate delivery
  // gets the same answer and changes nothing a second time.
  const deliveries = new Map();
  let prunedAt = 0;

  const server = createServer(async (req, res) => {
    let answer;
    try {
      const raw = await readBody(req);
      const check = verifyRequest({ secret, method: req.method, path: req.url, headers: req.headers, body: raw });
      if (!check.ok) {
        answer = { status: 401, body: { error: check.reason === 'stale' ? 'timestamp outside the replay window' : 'invalid signature' } };
      } else {
        const now = Date.now();
        if (now - prunedAt > 1000) {
          for (const [id, d] of deliveries) if (d.expiresAt < now) deliveries.delete(id);
          prunedAt = now;
        }
        answer = deliveries.get(check.deliveryId)?.answer;
        if (!answer) {
          answer = route(memory, base, req.method, req.url, raw);
          if (req.method === 'POST') deliveries.set(check.deliveryId, { answer, expiresAt: now + 2 * REPLAY_WINDOW_SECONDS * 1000 });
        }
      }
    } catch (err) {
      answer = err instanceof Refusal ? { status: err.status, body: { error: err.message } } : { status: 500, body: { error: 'internal error' } };
      if (!(err instanceof Refusal)) console.error(err);
    }
    log?.(`${req.method} ${req.url} → ${answer.status}`);
    send(res, answer);
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const address = server.address();
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}${base}`,
    users: memory.users,
    photos: memory.photos,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        // idsync keeps connections alive; without this, close waits for them to time out.
        server.closeAllConnections();
      }),
  };
}

// ---- standalone ----

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const secret = process.env.APP_WEBHOOK_SECRET;
  if (!secret) {
    console.error('Set APP_WEBHOOK_SECRET (the same value idsync has).');
    process.exit(1);
  }
  const receiver = await startReceiver({
    port: Number(process.env.PORT ?? 8080),
    host: process.env.HOST ?? '127.0.0.1',
    secret,
    log: (line) => console.log(line),
  });
  console.log(`idsync webhook receiver listening; set APP_WEBHOOK_URL=${receiver.url}`);
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void receiver.close().then(() => process.exit(0)));
}
