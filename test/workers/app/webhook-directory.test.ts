// The webhook application side against the example receiver, over real HTTP: the
// directory and the receiver are two independent implementations of docs/app-webhook.md.
import { createHash } from 'node:crypto';
import { ConfigurationError, PermanentError } from '../../../shared/errors.js';
import { createWebhookDirectory, signRequest, type WebhookDirectory } from '../../../workers/app/webhook/index.js';
import type { AppUser } from '../../../workers/app/directory.js';
import { startReceiver, type Receiver, type ReceiverUser } from '../../../examples/webhook-receiver/server.mjs';
import { SECRET } from './webhook-broken-receiver.js';

const photoOf = (text: string) => {
  const data = Buffer.from(text);
  return { hash: createHash('sha256').update(data).digest('hex'), contentType: 'image/png', data };
};

describe('webhook directory against the example receiver', () => {
  let receiver: Receiver;
  let dir: WebhookDirectory;
  beforeEach(async () => {
    receiver = await startReceiver({ port: 0, secret: SECRET });
    dir = createWebhookDirectory({ url: receiver.url, secret: SECRET });
  });
  afterEach(async () => {
    await dir.close();
    await receiver.close();
  });

  it('creates, adopts by username or e-mail, and updates, naming what changed', async () => {
    const alice = { username: 'alice', email: 'alice@example.com', firstName: 'Alice' };
    const created = await dir.apply({ values: alice, source: 'crowd', remoteId: 'k-1' });
    expect(created).toEqual({ id: expect.any(String), created: true, changed: ['username', 'email', 'firstName'] });
    expect(receiver.users.get(created.id)).toMatchObject({ ...alice, active: true });

    // A retried import (no id) adopts the same user instead of creating a second one.
    await expect(dir.apply({ values: alice, source: 'crowd' })).resolves.toEqual({ id: created.id, created: false, changed: [] });
    await expect(dir.apply({ values: { ...alice, username: 'ALICE' }, source: 'entra' })).resolves.toEqual({ id: created.id, created: false, changed: ['username'] });
    await expect(dir.apply({ values: { username: 'alice2', email: 'Alice@Example.com' }, source: 'entra' })).resolves.toEqual({ id: created.id, created: false, changed: ['username', 'email'] });
    expect(receiver.users.size).toBe(1);

    const update = { id: created.id, values: { lastName: 'Liddell', displayName: 'A. Liddell', active: false }, source: 'crowd' as const };
    await expect(dir.apply(update)).resolves.toEqual({ id: created.id, created: false, changed: ['lastName', 'displayName', 'active'] });
    // Idempotent: the same change again changes nothing.
    await expect(dir.apply(update)).resolves.toEqual({ id: created.id, created: false, changed: [] });
    await expect(dir.apply({ id: created.id, values: { displayName: null, groups: ['staff'] }, source: 'crowd' })).resolves.toMatchObject({ changed: ['displayName', 'groups'] });
    expect(receiver.users.get(created.id)).not.toHaveProperty('displayName');
  });

  it('reads the receiver’s refusals as permanent errors with its own words', async () => {
    await dir.apply({ values: { username: 'bob', email: 'bob@example.com' }, source: 'crowd' });
    const { id } = await dir.apply({ values: { username: 'carol', email: 'carol@example.com' }, source: 'crowd' });

    const unknown = await dir.apply({ id: '999', values: { lastName: 'X' }, source: 'crowd' }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(PermanentError);
    expect((unknown as Error).message).toMatch(/has no user 999 for POST user\.apply/);

    const taken = await dir.apply({ id, values: { username: 'BOB' }, source: 'crowd' }).catch((e: unknown) => e);
    expect(taken).toBeInstanceOf(PermanentError);
    expect((taken as PermanentError).status).toBe(409);
    expect((taken as Error).message).toMatch(/another user has this username/);

    const incomplete = await dir.apply({ values: { username: 'dave' }, source: 'crowd' }).catch((e: unknown) => e);
    expect(incomplete).toBeInstanceOf(PermanentError);
    expect((incomplete as Error).message).toMatch(/\(422: username and email are required/);
  });

  it('sets roles and photos, and answers false for a user that does not exist', async () => {
    const { id } = await dir.apply({ values: { username: 'erin', email: 'erin@example.com' }, source: 'entra' });
    await expect(dir.setRoles(id, ['admin', 'editor'])).resolves.toBe(true);
    await expect(dir.setRoles(id, ['admin', 'editor'])).resolves.toBe(true);
    expect(receiver.users.get(id)?.roles).toEqual(['admin', 'editor']);
    await expect(dir.setRoles('404', ['admin'])).resolves.toBe(false);

    const photo = photoOf('png bytes');
    await expect(dir.setPhoto(id, photo)).resolves.toBe(true);
    expect(receiver.users.get(id)?.photoHash).toBe(photo.hash);
    expect(receiver.photos.get(id)?.data.equals(photo.data)).toBe(true);
    await expect(dir.setPhoto(id, null)).resolves.toBe(true);
    expect(receiver.users.get(id)).not.toHaveProperty('photoHash');
    expect(receiver.photos.has(id)).toBe(false);
    await expect(dir.setPhoto('404', photo)).resolves.toBe(false);

    const wrongHash = await dir.setPhoto(id, { ...photo, hash: photoOf('other').hash }).catch((e: unknown) => e);
    expect(wrongHash).toBeInstanceOf(PermanentError);
  });

  it('gets one user (ids with any characters) or null', async () => {
    const odd: ReceiverUser = { id: 'ou=x/y z?&#ü', username: 'odd', email: 'odd@example.com', active: true, version: 4 };
    receiver.users.set(odd.id, odd);
    await expect(dir.get(odd.id)).resolves.toEqual(odd);
    await expect(dir.get('nobody')).resolves.toBeNull();
  });

  it('lists every user exactly once, in pages, in id order', async () => {
    for (let i = 1; i <= 2500; i++) receiver.users.set(String(i), { id: String(i), username: `user${i}`, email: `user${i}@example.com`, active: true });
    const pages: AppUser[][] = [];
    for await (const page of dir.list({ pageSize: 1000 })) pages.push(page);
    expect(pages.map((p) => p.length)).toEqual([1000, 1000, 500]);
    const ids = pages.flat().map((u) => u.id);
    expect(ids).toEqual(Array.from({ length: 2500 }, (_, i) => String(i + 1)));
  });

  it('lists nothing from an empty receiver', async () => {
    const pages: AppUser[][] = [];
    for await (const page of dir.list()) pages.push(page);
    expect(pages).toEqual([]);
  });

  it('takes a 401 for a wrong secret as a configuration error that leaks neither secret', async () => {
    const wrong = createWebhookDirectory({ url: receiver.url, secret: 'not-the-receivers-secret' });
    const err = await wrong.apply({ values: { username: 'x', email: 'x@example.com' }, source: 'crowd' }).catch((e: unknown) => e);
    await wrong.close();
    expect(err).toBeInstanceOf(ConfigurationError);
    expect((err as Error).message).toMatch(/rejected the signature .*APP_WEBHOOK_SECRET/);
    expect((err as Error).message).not.toContain('not-the-receivers-secret');
    expect((err as Error).message).not.toContain(SECRET);
    expect(receiver.users.size).toBe(0);
  });

  describe('the receiver, by hand', () => {
    const post = async (body: string, headers: Record<string, string>) => {
      const res = await fetch(receiver.url, { method: 'POST', headers, body });
      return { status: res.status, text: await res.text() };
    };
    const path = () => new URL(receiver.url).pathname;

    it('refuses a stale timestamp, a tampered body and a missing signature with 401', async () => {
      const body = JSON.stringify({ type: 'user.apply', values: { username: 'mallory', email: 'm@example.com' }, source: 'crowd' });
      const stale = signRequest({ secret: SECRET, method: 'POST', path: path(), body, timestampSeconds: Math.floor(Date.now() / 1000) - 301 });
      await expect(post(body, stale)).resolves.toMatchObject({ status: 401, text: expect.stringMatching(/replay window/) });
      const future = signRequest({ secret: SECRET, method: 'POST', path: path(), body, timestampSeconds: Math.floor(Date.now() / 1000) + 400 });
      await expect(post(body, future)).resolves.toMatchObject({ status: 401 });

      const signed = signRequest({ secret: SECRET, method: 'POST', path: path(), body });
      await expect(post(body.replace('mallory', 'mallorx'), signed)).resolves.toMatchObject({ status: 401, text: expect.stringMatching(/invalid signature/) });
      const { 'X-Idsync-Signature': _dropped, ...unsigned } = signed;
      await expect(post(body, unsigned)).resolves.toMatchObject({ status: 401 });
      expect(receiver.users.size).toBe(0);
    });

    it('answers a duplicate delivery as before and applies it once', async () => {
      const body = JSON.stringify({ type: 'user.apply', values: { username: 'frank', email: 'f@example.com' }, source: 'crowd' });
      const headers = signRequest({ secret: SECRET, method: 'POST', path: path(), body });
      const first = await post(body, headers);
      expect(first.status).toBe(200);
      const { id } = JSON.parse(first.text) as { id: string };
      receiver.users.set(id, { ...receiver.users.get(id)!, username: 'renamed-since' });
      await expect(post(body, headers)).resolves.toEqual(first);
      expect(receiver.users.get(id)?.username).toBe('renamed-since');
    });
  });
});
