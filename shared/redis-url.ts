/**
 * Where idsync's Redis is, as one URL: `redis://` / `rediss://` for one server, or
 * `redis+cluster://` / `rediss+cluster://` with comma-separated seed nodes for a Redis Cluster
 * (`redis+cluster://user:pass@10.0.0.1:6379,10.0.0.2:6379`). One string, so the same
 * REDIS_URL (or the client library's `redisUrl`) reaches every process unchanged.
 */

export interface ClusterUrl {
  /** Seed nodes; the client discovers the rest of the cluster from any one of them. */
  nodes: { host: string; port: number }[];
  username: string | undefined;
  password: string | undefined;
  tls: boolean;
}

const CLUSTER_SCHEME = /^(rediss?)\+cluster:\/\//i;

/** True for a `redis+cluster://` or `rediss+cluster://` URL (well-formed or not). */
export function isClusterUrl(url: string): boolean {
  return CLUSTER_SCHEME.test(url.trim());
}

/** The cluster URL's parts; throws an error naming what is wrong (never echoing the URL: it may hold a password). */
export function parseClusterUrl(url: string): ClusterUrl {
  const match = CLUSTER_SCHEME.exec(url.trim());
  if (!match) throw new Error('expected a URL starting with redis+cluster:// or rediss+cluster://');
  const scheme = match[1]!.toLowerCase();
  const rest = url.trim().slice(match[0].length).replace(/\/$/, '');
  const at = rest.lastIndexOf('@');
  const credentials = at >= 0 ? rest.slice(0, at) : '';
  const hosts = (at >= 0 ? rest.slice(at + 1) : rest).split(',').map((h) => h.trim());
  if (!hosts.length || hosts.some((h) => !h)) throw new Error('expected one or more host:port seed nodes separated by commas');
  const nodes = hosts.map((h) => {
    let parsed: URL;
    try {
      parsed = new URL(`${scheme}://${h}`);
    } catch {
      throw new Error('a seed node is not a host:port');
    }
    if (parsed.pathname !== '' || parsed.search || parsed.hash || parsed.username) {
      throw new Error('a cluster has one database (0): no path, query or per-node credentials after a seed node');
    }
    return { host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port: parsed.port ? Number(parsed.port) : 6379 };
  });
  let username: string | undefined;
  let password: string | undefined;
  if (credentials) {
    let parsed: URL;
    try {
      parsed = new URL(`${scheme}://${credentials}@${hosts[0]}`);
      username = decodeURIComponent(parsed.username) || undefined;
      password = decodeURIComponent(parsed.password) || undefined;
    } catch {
      // A `/`, `?` or `#` (or a stray `%`) in the password ends the URL's user part early.
      throw new Error('the credentials before "@" do not parse: percent-encode "/", "?", "#", "%" and "@" in them');
    }
  }
  return { nodes, username, password, tls: scheme === 'rediss' };
}

/**
 * True when keys starting with `prefix` carry a Redis Cluster hash tag (the text between the
 * first `{` and the first `}` after it, not empty), so they all hash to one slot.
 */
export function hasHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{');
  if (open < 0) return false;
  const close = prefix.indexOf('}', open + 1);
  return close > open + 1;
}

/** Why a cluster cannot use `prefix`, or undefined when it can. */
export function clusterPrefixProblem(prefix: string): string | undefined {
  return hasHashTag(prefix)
    ? undefined
    : 'needs a hash tag, e.g. {idsync}, when REDIS_URL is a cluster (redis+cluster://): BullMQ needs all of a queue\'s keys in one hash slot';
}
