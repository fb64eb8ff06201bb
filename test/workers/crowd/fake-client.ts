// A scripted stand-in for CrowdClient: each method the unit under test may call runs the
// test's own implementation, every call is recorded with its arguments, and a method the
// test did not expect rejects, so an extra request shows up as a failure.
import type { CrowdClient } from '../../../workers/crowd/client.js';
import type { CrowdUser } from '../../../workers/crowd/entities.js';

const METHODS = [
  'getUser',
  'createUser',
  'updateUser',
  'renameUser',
  'setPassword',
  'deleteUser',
  'storeAttributes',
  'deleteAttribute',
  'listUserGroups',
  'addUserToGroup',
  'removeUserFromGroup',
  'searchUsers',
  'currentEventToken',
  'eventsSince',
  'ping',
  'close',
] as const;
// The real client's close() is synchronous, and callers do not await it.
const SYNC: ReadonlySet<Method> = new Set<Method>(['close']);
type Method = (typeof METHODS)[number];
type Impl = { [M in Method]?: (...args: Parameters<CrowdClient[M]>) => ReturnType<CrowdClient[M]> | Awaited<ReturnType<CrowdClient[M]>> };

export type Call = [Method, ...unknown[]];

export function fakeClient(impl: Impl): { client: CrowdClient; calls: Call[] } {
  const calls: Call[] = [];
  const client: Record<string, unknown> = {};
  for (const m of METHODS) {
    const run = (...args: unknown[]) => {
      calls.push([m, ...args]);
      const f = impl[m] as ((...a: unknown[]) => unknown) | undefined;
      if (!f) throw new Error(`unexpected call ${m}`);
      return f(...args);
    };
    client[m] = SYNC.has(m) ? run : async (...args: unknown[]) => run(...args);
  }
  return { client: client as unknown as CrowdClient, calls };
}

export const crowdUser = (name: string, over: Partial<CrowdUser> = {}): CrowdUser => ({
  name,
  key: undefined,
  firstName: undefined,
  lastName: undefined,
  displayName: undefined,
  email: undefined,
  active: true,
  attributes: undefined,
  updatedAt: undefined,
  ...over,
});

/** A promise settled from outside, to hold a call open while the test looks at what else ran. */
export function deferred<T>(): { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
