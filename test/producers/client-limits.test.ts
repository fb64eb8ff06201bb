import { Queue } from 'bullmq';
import { createSyncClient, ValidationError, type SyncClient } from '../../producers/index.js';
import { LIMITS } from '../../shared/jobs.js';
import { TEST_KEY } from '../helpers/harness.js';
import { REDIS_URL, deletePrefix, dumpPrefix, uniquePrefix, workerRedis } from '../helpers/redis.js';

/**
 * What the targets would refuse is refused here, before anything is enqueued: invisible and
 * control characters, lengths in UTF-16 units as Crowd and Graph count them, oversized
 * attribute sets and snapshots, and malformed numeric options.
 */

const alice = { id: 'u-1', username: 'alice', email: 'alice@example.com' };
const FORBIDDEN: [string, string][] = [
  ['NUL', '\u0000'], ['TAB', '\t'], ['LF', '\n'], ['CR', '\r'], ['DEL', '\u007f'], ['C1 NEL', '\u0085'],
  ['RLO', '\u202e'], ['LRE', '\u202a'], ['FSI', '\u2068'], ['RLM', '\u200f'], ['ALM', '\u061c'],
  ['ZWSP', '\u200b'], ['ZWJ', '\u200d'], ['WJ', '\u2060'], ['BOM', '\ufeff'],
  ['lone high surrogate', '\ud83d'], ['lone low surrogate', '\ude00'],
];
const SECRET = 'Zq7-never-echoed';

/** The issues of a rejected call: it must be a ValidationError whose text never holds `SECRET`. */
async function issuesOf(call: Promise<unknown>): Promise<{ path: string; message: string }[]> {
  const err = await call.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ValidationError);
  expect(JSON.stringify([(err as Error).message, (err as ValidationError).issues])).not.toContain(SECRET);
  return (err as ValidationError).issues;
}

describe('client library limits', () => {
  const redis = workerRedis();
  let prefix: string;
  let client: SyncClient;
  beforeEach(() => {
    prefix = uniquePrefix('limits');
    client = createSyncClient({ redisUrl: REDIS_URL, prefix, targets: ['crowd', 'entra'], secretKey: TEST_KEY });
  });
  afterEach(async () => {
    await client.close();
    await deletePrefix(redis, prefix);
  });
  afterAll(() => redis.quit());

  it('refuses control, bidi, zero-width characters and lone surrogates in every single-line field, naming the field', async () => {
    for (const [name, ch] of FORBIDDEN) {
      const bad = `${SECRET}${ch}x`;
      const fields = { id: bad, username: bad, firstName: bad, lastName: bad, displayName: bad, groups: ['staff', bad] };
      const paths = (await issuesOf(client.userChanged({ ...alice, ...fields }))).map((i) => i.path).sort();
      expect([name, paths]).toEqual([name, ['displayName', 'firstName', 'groups.1', 'id', 'lastName', 'username']]);
      expect((await issuesOf(client.userChanged({ ...alice, email: `a${ch}@example.com` }))).map((i) => i.path)).toEqual(['email']);
      expect((await issuesOf(client.userDeleted({ id: bad }))).map((i) => i.path)).toEqual(['id']);
      expect((await issuesOf(client.pull({ id: 'u-1', username: bad }))).map((i) => i.path)).toEqual(['username']);
      expect((await issuesOf(client.provision({ ids: [bad] }))).map((i) => i.path)).toEqual(['ids.0']);
      expect((await issuesOf(client.userChanged({ ...alice, attributes: { [`k${ch}`]: 'v' } })))).toEqual([{ path: 'attributes', message: expect.stringMatching(/^a key must not contain/) }]);
    }
    const [issue] = await issuesOf(client.userChanged({ ...alice, username: `${SECRET}\u202e` }));
    expect(issue).toEqual({ path: 'username', message: 'must not contain bidirectional formatting characters' });
    expect(await dumpPrefix(redis, prefix)).toBe('');
  });

  it('lets multi-line attribute values keep TAB, CR and LF, but not NUL or lone surrogates', async () => {
    await client.userChanged({ ...alice, attributes: { address: 'Main St 1\r\nSpringfield\t12345' } });
    expect((await issuesOf(client.userChanged({ ...alice, attributes: { a: `${SECRET}\u0000` } }))).map((i) => i.path)).toEqual(['attributes.a']);
    expect((await issuesOf(client.userChanged({ ...alice, attributes: { a: ['ok', `${SECRET}\ud800`] } }))).map((i) => i.path)).toEqual(['attributes.a.1']);
  });

  it('counts lengths in UTF-16 code units, as Crowd and Graph do', async () => {
    const emoji = '\u{1f600}'; // two code units
    await client.userChanged({ ...alice, username: emoji.repeat(127) + 'a' }); // 255 units
    const [tooLong] = await issuesOf(client.userChanged({ ...alice, username: emoji.repeat(128) })); // 256 units, 128 code points
    expect(tooLong).toEqual({ path: 'username', message: 'must be at most 255 characters (UTF-16 code units)' });
    const names = await issuesOf(client.userChanged({ ...alice, firstName: emoji.repeat(33), lastName: 'x'.repeat(65), displayName: emoji.repeat(129) }));
    expect(names.map((i) => i.path).sort()).toEqual(['displayName', 'firstName', 'lastName']);
    expect((await issuesOf(client.userChanged({ ...alice, id: emoji.repeat(129) }))).map((i) => i.path)).toEqual(['id']);
  });

  it('caps the number of attributes and the size of one snapshot, naming size and limit', async () => {
    const many = Object.fromEntries(Array.from({ length: LIMITS.attributes + 1 }, (_, i) => [`a${i}`, 'v']));
    expect(await issuesOf(client.userChanged({ ...alice, attributes: many }))).toEqual([{ path: 'attributes', message: `has ${LIMITS.attributes + 1} attributes; at most ${LIMITS.attributes}` }]);
    // The 41 MB call of the adversarial run: 100 attributes of 100 values of 4,096 characters.
    const huge = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`a${i}`, Array.from({ length: 100 }, () => `${SECRET}${'x'.repeat(4080)}`)]));
    const [size] = await issuesOf(client.userChanged({ ...alice, attributes: huge }));
    expect(size).toEqual({ path: '', message: expect.stringMatching(/^the snapshot is [\d,]+ bytes as JSON; the limit is 64 KiB$/) });
    const justOver = { ...alice, attributes: { a: Array.from({ length: 17 }, () => 'x'.repeat(4000)) } };
    expect((await issuesOf(client.userChangedMany([alice, justOver]))).map((i) => i.path)).toEqual(['users.1']);
    expect(await dumpPrefix(redis, prefix)).toBe('');
    // Just under the limit goes through.
    await client.userChanged({ ...alice, attributes: { a: Array.from({ length: 15 }, () => 'x'.repeat(4000)) } });
  });

  it('checks numeric options: refresh timeoutMs, finished timeoutMs and the client options', async () => {
    for (const timeoutMs of ['abc', -1, 0, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 3_600_001]) {
      expect(await issuesOf(client.refresh({ id: 'u-1' }, { target: 'crowd', timeoutMs: timeoutMs as number }))).toEqual([{ path: 'timeoutMs', message: expect.any(String) }]);
    }
    expect(await dumpPrefix(redis, prefix)).toBe('');
    const run = await client.provision({ ids: ['u-1'] });
    expect((await issuesOf(run.finished({ timeoutMs: 'abc' as never }))).map((i) => i.path)).toEqual(['timeoutMs']);
    for (const [option, value] of [['attempts', 'x'], ['attempts', 0], ['backoffMs', 1.5], ['passwordTtlMs', -5]] as const) {
      expect(() => createSyncClient({ redisUrl: REDIS_URL, prefix, targets: ['crowd'], [option]: value as never })).toThrow(expect.objectContaining({ issues: [expect.objectContaining({ path: option })] }));
    }
  });

  it('refuses a password with a lone surrogate, and counts its length in code units', async () => {
    expect((await issuesOf(client.passwordChanged({ id: 'u-1' }, `${SECRET}\ud800`))).map((i) => i.path)).toEqual(['password']);
    expect((await issuesOf(client.passwordChanged({ id: 'u-1' }, '\u{1f600}'.repeat(513)))).map((i) => i.path)).toEqual(['password']);
    await client.passwordChanged({ id: 'u-1' }, '\u{1f600}'.repeat(512));
    const crowd = new Queue('crowd', { connection: redis, prefix });
    try {
      expect(await crowd.count()).toBe(1);
    } finally {
      await crowd.close();
    }
  });
});
