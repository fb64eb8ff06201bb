// Profile photos, Entra → app: the one binary read per pull, the SHA-256 of the bytes kept
// per user in Redis so unchanged bytes are not copied again, "no photo" answers, and a
// refused read that leaves photos out (warned about once) instead of failing the pull.
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { PhotoStore } from '../../../workers/entra/photos.js';
import { capturingLogger } from '../../helpers/logs.js';
import { REDIS_URL, deletePrefix, uniquePrefix } from '../../helpers/redis.js';
import { FakeGraph, bytesReply, failure, graphError, reply } from './fake-graph.js';

const signal = new AbortController().signal;
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 9]);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('PhotoStore', () => {
  let redis: Redis;
  let prefix: string;
  let key: string;
  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });
  beforeEach(() => {
    prefix = uniquePrefix('entra-photos');
    key = `${prefix}:photo-hash:entra`;
  });
  afterEach(() => deletePrefix(redis, prefix));
  afterAll(() => redis.quit());

  const store = (logger = capturingLogger().logger) => new PhotoStore(redis, prefix, logger);
  /** The warnings logged, as [msg, permission]. */
  const warnings = (lines: string[]) => lines.map((l) => JSON.parse(l) as { level: number; msg: string; permission?: string }).filter((l) => l.level === 40).map((l) => [l.msg, l.permission]);

  it('reads /photo/$value as bytes, accepting 403 and 404, naming the permission and the subject', async () => {
    const g = FakeGraph.script(bytesReply(200, JPEG, { 'content-type': 'image/jpeg' }));
    await store().read(g.client, 'u-1', { abortSignal: signal, subject: 'alice@contoso.com' });
    expect(g.requests).toEqual([
      {
        method: 'GET',
        link: '/users/u-1/photo/$value',
        binary: true,
        options: { abortSignal: signal, subject: 'alice@contoso.com', accept: [403, 404], permission: 'ProfilePhoto.Read.All' },
      },
    ]);
  });

  it('hands over new bytes base64-encoded with their hash and type, and records the hash under <prefix>:photo-hash:entra', async () => {
    const g = FakeGraph.script(bytesReply(200, JPEG, { 'content-type': 'image/jpeg' }));
    expect(await store().read(g.client, 'u-1', {})).toEqual({ hash: sha(JPEG), contentType: 'image/jpeg', data: JPEG.toString('base64') });
    expect(await redis.hgetall(key)).toEqual({ 'u-1': sha(JPEG) });
  });

  it('hands over only the hash while the bytes stay the same, and the bytes again once they change', async () => {
    const g = FakeGraph.script(
      bytesReply(200, JPEG, { 'content-type': 'image/jpeg' }),
      bytesReply(200, JPEG, { 'content-type': 'image/jpeg' }),
      bytesReply(200, PNG, { 'content-type': 'image/png' }),
      bytesReply(200, PNG, { 'content-type': 'image/png' }),
    );
    const photos = store();
    expect(await photos.read(g.client, 'u-1', {})).toEqual({ hash: sha(JPEG), contentType: 'image/jpeg', data: JPEG.toString('base64') });
    expect(await photos.read(g.client, 'u-1', {})).toEqual({ hash: sha(JPEG), contentType: 'image/jpeg' });
    expect(await photos.read(g.client, 'u-1', {})).toEqual({ hash: sha(PNG), contentType: 'image/png', data: PNG.toString('base64') });
    expect(await redis.hget(key, 'u-1')).toBe(sha(PNG));
    expect(await photos.read(g.client, 'u-1', {})).toEqual({ hash: sha(PNG), contentType: 'image/png' });
  });

  it('keeps one hash per user, shared by every store on the prefix', async () => {
    const g = FakeGraph.script(bytesReply(200, JPEG), bytesReply(200, JPEG), bytesReply(200, JPEG));
    await store().read(g.client, 'u-1', {});
    expect(await store().read(g.client, 'u-2', {})).toMatchObject({ data: JPEG.toString('base64') });
    expect(await store().read(g.client, 'u-1', {})).toEqual({ hash: sha(JPEG), contentType: 'image/jpeg' });
    expect(await redis.hgetall(key)).toEqual({ 'u-1': sha(JPEG), 'u-2': sha(JPEG) });
  });

  it('takes the media type without parameters, and JPEG when Graph names none', async () => {
    const g = FakeGraph.script(bytesReply(200, JPEG, { 'content-type': ' image/png ; charset=binary' }), bytesReply(200, PNG, {}));
    expect(await store().read(g.client, 'u-1', {})).toMatchObject({ contentType: 'image/png' });
    expect(await store().read(g.client, 'u-2', {})).toMatchObject({ contentType: 'image/jpeg' });
  });

  it('answers null for no photo (404, or no bytes) and forgets the hash, so a new photo is copied', async () => {
    // A 404 may carry Graph's error body as its bytes: that is no photo either.
    const errorBody = Buffer.from(JSON.stringify({ error: { code: 'ImageNotFound', message: 'none' } }));
    for (const none of [bytesReply(404, undefined), bytesReply(404, errorBody, { 'content-type': 'application/json' }), bytesReply(200, Buffer.alloc(0)), bytesReply(200, undefined)]) {
      await redis.hset(key, 'u-1', sha(JPEG), 'u-2', 'other');
      const g = FakeGraph.script({ ...none, error: graphError('ImageNotFound') }, bytesReply(200, JPEG));
      const photos = store();
      expect(await photos.read(g.client, 'u-1', {})).toBeNull();
      expect(await redis.hgetall(key)).toEqual({ 'u-2': 'other' });
      expect(await photos.read(g.client, 'u-1', {})).toMatchObject({ data: JPEG.toString('base64') });
    }
  });

  it('leaves the photo out on 403, warning once per store, and keeps the hash', async () => {
    await redis.hset(key, 'u-1', 'kept');
    const { logger, lines } = capturingLogger();
    const photos = store(logger);
    const g = FakeGraph.script(bytesReply(403, undefined), bytesReply(403, undefined), bytesReply(200, JPEG));
    expect(await photos.read(g.client, 'u-1', {})).toBeUndefined();
    expect(await photos.read(g.client, 'u-2', {})).toBeUndefined();
    expect(warnings(lines)).toEqual([['Graph refused reading profile photos; photos are not synced until the app holds ProfilePhoto.Read.All', 'ProfilePhoto.Read.All']]);
    expect(await redis.hgetall(key)).toEqual({ 'u-1': 'kept' });
    // Once the permission is granted, photos flow again.
    expect(await photos.read(g.client, 'u-1', {})).toMatchObject({ data: JPEG.toString('base64') });
  });

  it('warns again from a new store', async () => {
    const { logger, lines } = capturingLogger();
    const g = FakeGraph.script(bytesReply(403, undefined), bytesReply(403, undefined));
    await store(logger).read(g.client, 'u-1', {});
    await store(logger).read(g.client, 'u-1', {});
    expect(warnings(lines)).toHaveLength(2);
  });

  it('passes a failed read on, leaving the hash alone', async () => {
    await redis.hset(key, 'u-1', 'kept');
    const g = new FakeGraph(() => {
      throw new Error('Graph is down');
    });
    expect(await failure(store().read(g.client, 'u-1', {}))).toEqual(['Error', 'Graph is down', undefined, undefined]);
    expect(await redis.hgetall(key)).toEqual({ 'u-1': 'kept' });
  });

  it('forget drops the user’s hash only, so the next read copies the photo again', async () => {
    await redis.hset(key, 'u-1', sha(JPEG), 'u-2', sha(JPEG));
    const photos = store();
    await photos.forget('u-1');
    expect(await redis.hgetall(key)).toEqual({ 'u-2': sha(JPEG) });
    const g = FakeGraph.script(bytesReply(200, JPEG), bytesReply(200, JPEG));
    expect(await photos.read(g.client, 'u-1', {})).toMatchObject({ data: JPEG.toString('base64') });
    expect(await photos.read(g.client, 'u-2', {})).toEqual({ hash: sha(JPEG), contentType: 'image/jpeg' });
  });

  it('does not touch another prefix', async () => {
    const other = uniquePrefix('entra-photos');
    try {
      await redis.hset(`${other}:photo-hash:entra`, 'u-1', sha(JPEG));
      const g = FakeGraph.script(bytesReply(200, JPEG));
      expect(await store().read(g.client, 'u-1', {})).toMatchObject({ data: JPEG.toString('base64') });
    } finally {
      await deletePrefix(redis, other);
    }
  });

  it('settles its hash writes before answering', async () => {
    // A Redis whose writes complete a turn later, recording when they do.
    const settled: string[] = [];
    const later = (name: string) => async () => {
      await new Promise((resolve) => setImmediate(resolve));
      settled.push(name);
      return 1;
    };
    const slow = { hget: async () => null, hset: later('hset'), hdel: later('hdel') } as unknown as Redis;
    const photos = new PhotoStore(slow, prefix, capturingLogger().logger);
    const g = FakeGraph.script(bytesReply(200, JPEG), bytesReply(404, undefined));
    await photos.read(g.client, 'u-1', {});
    expect(settled).toEqual(['hset']);
    await photos.read(g.client, 'u-1', {});
    expect(settled).toEqual(['hset', 'hdel']);
    await photos.forget('u-1');
    expect(settled).toEqual(['hset', 'hdel', 'hdel']);
  });

  it('reads a JSON reply without bytes as no photo', async () => {
    const g = FakeGraph.script(reply(200, { value: [] }));
    expect(await store().read(g.client, 'u-1', {})).toBeNull();
  });
});
