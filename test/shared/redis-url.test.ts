// REDIS_URL for a Redis Cluster (redis+cluster://seed,seed) and the hash-tagged prefix it needs.
import { createSyncClient } from '../../producers/client.js';
import { loadConfig } from '../../shared/config.js';
import { clusterPrefixProblem, hasHashTag, isClusterUrl, parseClusterUrl } from '../../shared/redis-url.js';

const SECRET = 'S3cret:pass/word';
const clusterUrl = `redis+cluster://idsync:${encodeURIComponent(SECRET)}@10.0.0.1:7000,10.0.0.2,[::1]:7002/`;

describe('cluster REDIS_URL', () => {
  it('parses seed nodes, credentials and TLS', () => {
    expect(isClusterUrl(clusterUrl)).toBe(true);
    expect(isClusterUrl('redis://127.0.0.1:6379')).toBe(false);
    expect(parseClusterUrl(clusterUrl)).toEqual({
      nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 6379 }, { host: '::1', port: 7002 }],
      username: 'idsync', password: SECRET, tls: false,
    });
    expect(parseClusterUrl('rediss+cluster://a:1')).toEqual({ nodes: [{ host: 'a', port: 1 }], username: undefined, password: undefined, tls: true });
  });

  it('refuses a malformed cluster URL without echoing it', () => {
    for (const bad of [`redis+cluster://u:${SECRET}@`, `redis+cluster://u:${SECRET}@a:1,,b:2`, `redis+cluster://u:${SECRET}@a:1/3`, 'redis+cluster://a:99999']) {
      const err = (() => { try { parseClusterUrl(bad); } catch (e) { return e as Error; } })();
      expect([bad, err?.message]).toEqual([bad, expect.any(String)]);
      expect(err!.message).not.toContain('S3cret');
    }
  });

  it('finds the hash tag the way Redis does: the first {…} that is not empty', () => {
    expect(['{idsync}', 'app-{a}', '{a}{b}', 'x{y}z'].map(hasHashTag)).toEqual([true, true, true, true]);
    expect(['idsync', '{}idsync', 'idsync}{', '{idsync', ''].map(hasHashTag)).toEqual([false, false, false, false, false]);
  });

  it('config: a cluster needs a hash-tagged IDSYNC_PREFIX; the error names the variable, never the password', () => {
    expect(loadConfig({ REDIS_URL: clusterUrl }).redisUrl).toBe(clusterUrl);
    expect(loadConfig({ REDIS_URL: clusterUrl, IDSYNC_PREFIX: '{idsync-a}' }).prefix).toBe('{idsync-a}');
    expect(loadConfig({ REDIS_URL: 'redis://h:1', IDSYNC_PREFIX: 'plain' }).prefix).toBe('plain');
    const err = (() => { try { loadConfig({ REDIS_URL: clusterUrl, IDSYNC_PREFIX: 'idsync' }); } catch (e) { return e as Error & { variables: unknown }; } })();
    expect(err?.variables).toEqual([{ path: 'IDSYNC_PREFIX', message: clusterPrefixProblem('idsync') }]);
    expect(err!.message).toMatch(/IDSYNC_PREFIX: needs a hash tag, e\.g\. \{idsync\}/);
    expect(err!.message).not.toContain('S3cret');
  });

  it('config: REDIS_URL accepts the four schemes and names the bad one', () => {
    for (const ok of ['redis://h:1', 'rediss://h:1', 'redis+cluster://h:1,h:2', 'rediss+cluster://h:1']) expect(loadConfig({ REDIS_URL: ok }).redisUrl).toBe(ok);
    expect(() => loadConfig({ REDIS_URL: 'http://h:1' })).toThrow(/REDIS_URL: expected a URL starting with redis:\/\/, rediss:\/\/, redis\+cluster:\/\/ or rediss\+cluster:\/\//);
    expect(() => loadConfig({ REDIS_URL: `redis+cluster://u:${SECRET}@` })).toThrow(/REDIS_URL: expected one or more host:port seed nodes/);
  });

  it('client library: a cluster URL with a prefix lacking a hash tag is a ValidationError on `prefix`, before any connection', () => {
    expect(() => createSyncClient({ redisUrl: 'redis+cluster://127.0.0.1:1', prefix: 'plain', targets: ['crowd'] })).toThrow(
      expect.objectContaining({ name: 'ValidationError', issues: [{ path: 'prefix', message: clusterPrefixProblem('plain') }] }),
    );
  });
});

describe('parseClusterUrl edge cases', () => {
  const refusal = (url: string): string | undefined => {
    try { parseClusterUrl(url); } catch (e) { return (e as Error).message; }
    return undefined;
  };
  const NO_PATH = 'a cluster has one database (0): no path, query or per-node credentials after a seed node';

  it('ignores surrounding whitespace and one trailing slash', () => {
    expect(isClusterUrl('  redis+cluster://a:1')).toBe(true);
    expect(isClusterUrl('REDISS+CLUSTER://a:1')).toBe(true);
    expect(parseClusterUrl('  rediss+cluster://a:1/  ').nodes).toEqual([{ host: 'a', port: 1 }]);
    expect(parseClusterUrl('redis+cluster://a:1 , b:2 ').nodes).toEqual([{ host: 'a', port: 1 }, { host: 'b', port: 2 }]);
  });

  it('defaults the port to 6379 and unwraps IPv6 brackets', () => {
    expect(parseClusterUrl('redis+cluster://a,[::1],[fe80::1]:7000').nodes)
      .toEqual([{ host: 'a', port: 6379 }, { host: '::1', port: 6379 }, { host: 'fe80::1', port: 7000 }]);
  });

  it('reads user and password, either alone, and turns TLS on only for rediss', () => {
    expect(parseClusterUrl('redis+cluster://alice:p%40ss@a:1')).toMatchObject({ username: 'alice', password: 'p@ss', tls: false });
    expect(parseClusterUrl('redis+cluster://:secret@a:1')).toMatchObject({ username: undefined, password: 'secret' });
    expect(parseClusterUrl('redis+cluster://alice@a:1')).toMatchObject({ username: 'alice', password: undefined });
    expect(parseClusterUrl('Rediss+Cluster://a:1').tls).toBe(true);
  });

  it('refuses credentials that do not parse, saying what to encode and never quoting them', () => {
    for (const bad of ['redis+cluster://u:pa/ss@a:1', 'redis+cluster://u:p?w@a:1', 'redis+cluster://u:p#w@a:1', 'redis+cluster://u:p%zz@a:1']) {
      const message = refusal(bad);
      expect([bad, message]).toEqual([bad, 'the credentials before "@" do not parse: percent-encode "/", "?", "#", "%" and "@" in them']);
    }
  });

  it('refuses a URL of another scheme with its own message', () => {
    expect(refusal('redis://a:1')).toBe('expected a URL starting with redis+cluster:// or rediss+cluster://');
  });

  it('refuses empty seed nodes', () => {
    for (const bad of ['redis+cluster://', 'redis+cluster://a:1,,b:2', 'redis+cluster://a:1,', 'redis+cluster://u:p@ , a:1']) {
      expect([bad, refusal(bad)]).toEqual([bad, 'expected one or more host:port seed nodes separated by commas']);
    }
  });

  it('refuses a seed node that is not host:port', () => {
    for (const bad of ['redis+cluster://a:99999', 'redis+cluster://a:1,b:port']) {
      expect([bad, refusal(bad)]).toEqual([bad, 'a seed node is not a host:port']);
    }
  });

  it('refuses a path, a query or a fragment after any seed node', () => {
    for (const bad of ['redis+cluster://a:1/0', 'redis+cluster://a:1/,b:2', 'redis+cluster://a:1?db=1', 'redis+cluster://a:1#x', 'redis+cluster://a:1,b:2?tls=1']) {
      expect([bad, refusal(bad)]).toEqual([bad, NO_PATH]);
    }
  });

  it('finds no hash tag without an opening brace, and looks for the closing one after it', () => {
    expect(['ab}', 'a}b', '}{a}'].map(hasHashTag)).toEqual([false, false, true]);
  });
});
