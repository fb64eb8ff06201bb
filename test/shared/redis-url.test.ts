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
