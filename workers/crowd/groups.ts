import { PermanentError, TransientError } from '../../shared/errors.js';
import type { CallOptions, CrowdClient } from './client.js';

/**
 * Direct group memberships: make a user's direct Crowd groups equal to the app's list by
 * sending only the difference (names compared case-insensitively, Crowd's case kept).
 * Adding an existing membership (409) and removing a missing one (404) count as done.
 *
 * A group Crowd does not have is NOT created: groups are administered in Crowd (the
 * Drupal module only let admins pick existing ones), Crowd itself refuses such an add
 * (400 GROUP_NOT_FOUND), and minting groups from app data would turn a typo into a new,
 * empty group. The rest of the difference is still applied; then the job fails with a
 * reason naming the missing groups, so an operator can create them and replay it.
 */

export interface GroupPlan {
  add: string[];
  remove: string[];
}

export function planGroups(current: readonly string[], desired: readonly string[]): GroupPlan {
  const have = new Set(current.map((g) => g.toLowerCase()));
  const want = new Set(desired.map((g) => g.toLowerCase()));
  return {
    add: desired.filter((g) => !have.has(g.toLowerCase())),
    remove: current.filter((g) => !want.has(g.toLowerCase())),
  };
}

export const isEmptyPlan = (plan: GroupPlan): boolean => plan.add.length === 0 && plan.remove.length === 0;

/** Reads the current direct groups and plans the difference. */
export async function planDirectGroups(client: CrowdClient, username: string, desired: readonly string[], options: CallOptions): Promise<GroupPlan> {
  const current = await client.listUserGroups(username, 'direct', options);
  // The user was just read by key or name; vanishing in between is a race worth a retry.
  if (current === null) throw new TransientError(`Crowd user ${username} disappeared while reading its groups`);
  return planGroups(current, desired);
}

const PARALLEL = 4;

/** Sends the planned adds and removes; resolves whether any membership changed. */
export async function applyGroupPlan(client: CrowdClient, username: string, plan: GroupPlan, options: CallOptions): Promise<boolean> {
  const missing: string[] = [];
  let changed = false;
  const tasks = [
    ...plan.add.map((g) => async () => {
      const r = await client.addUserToGroup(username, g, options);
      if (r === 'no-group') missing.push(g);
      else if (r === 'added') changed = true;
    }),
    ...plan.remove.map((g) => async () => {
      if ((await client.removeUserFromGroup(username, g, options)) === 'removed') changed = true;
    }),
  ];
  await runLimited(tasks, PARALLEL);
  if (missing.length) {
    throw new PermanentError(
      `Crowd has no group ${missing.map((g) => `"${g}"`).join(', ')} for user ${username}; idsync does not create groups: create ${missing.length === 1 ? 'it' : 'them'} in Crowd (or fix the app's group list) and replay this job. The other membership changes were applied.`,
      { code: 'GROUP_NOT_FOUND', status: 400 },
    );
  }
  return changed;
}

/** Crowd group names → app roles (many-to-one, case-insensitive), sorted and unique. */
export function rolesFor(groups: readonly string[], roleMap: Readonly<Record<string, string>>): string[] {
  const byLower = new Map(Object.entries(roleMap).map(([g, role]) => [g.toLowerCase(), role]));
  const roles = new Set<string>();
  for (const g of groups) {
    const role = byLower.get(g.toLowerCase());
    if (role !== undefined) roles.add(role);
  }
  return [...roles].sort();
}

async function runLimited(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  let failure: unknown;
  const lane = async () => {
    while (next < tasks.length && failure === undefined) {
      const task = tasks[next++]!;
      try {
        await task();
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, lane));
  if (failure !== undefined) throw failure;
}
