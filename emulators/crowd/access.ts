// Application credentials and the per-application remote-address allow-list (reference §2).
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

export interface Credentials {
  name: string;
  password: string;
}

/** Returns true when the Authorization header carries this application's name and password. */
export function makeAuthChecker(creds: Credentials): (header: string | undefined) => boolean {
  // Every request of a client repeats the same header: remember the last good one.
  // `creds` may change (an administrator sets a new password): the remembered header is
  // good only for the password it was checked against.
  let lastGood: string | undefined;
  let checkedAgainst = creds.password;
  return (header) => {
    if (header === undefined) return false;
    if (checkedAgainst !== creds.password) {
      lastGood = undefined;
      checkedAgainst = creds.password;
    }
    if (header === lastGood) return true;
    const m = /^basic\s+(\S+)\s*$/i.exec(header);
    if (!m) return false;
    const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
    const cut = decoded.indexOf(':');
    if (cut < 0) return false;
    // Application names are matched case-insensitively, passwords exactly.
    const ok = decoded.slice(0, cut).toLowerCase() === creds.name.toLowerCase() && decoded.slice(cut + 1) === creds.password;
    if (ok) lastGood = header;
    return ok;
  };
}

export function normalizeAddress(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** Allow-list of IPs, CIDR ranges and host names (resolved once at start). */
export async function makeAddressFilter(entries: readonly string[]): Promise<(address: string) => boolean> {
  const list = new BlockList();
  const add = (ip: string): void => {
    const family = isIP(ip);
    if (family) list.addAddress(ip, family === 4 ? 'ipv4' : 'ipv6');
  };
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry.includes('/')) {
      const [net, prefix] = entry.split('/');
      const family = isIP(net ?? '');
      if (!family || prefix === undefined) throw new Error(`Invalid address range: ${entry}`);
      list.addSubnet(net as string, Number(prefix), family === 4 ? 'ipv4' : 'ipv6');
    } else if (isIP(entry)) {
      add(entry);
    } else if (entry.toLowerCase() === 'localhost') {
      add('127.0.0.1');
      add('::1');
    } else {
      for (const r of await lookup(entry, { all: true })) add(r.address);
    }
  }
  return (address) => {
    const family = isIP(address);
    return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  };
}
