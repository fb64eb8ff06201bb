import { z } from 'zod';

/**
 * Crowd's JSON entities (reference §1.1) as zod schemas, and the normalised shapes the
 * rest of the worker uses. Parsing is lenient where Crowd versions drift: plural or
 * singular list keys (6.x docs), epoch-ms or ISO dates, `active` as a boolean or string,
 * `key` absent or null (LDAP directories without an external id).
 */

const attributeSchema = z.object({ name: z.string(), values: z.array(z.string()).nullish() });
const attributeListSchema = z.object({
  attributes: z.array(attributeSchema).nullish(),
  attribute: z.array(attributeSchema).nullish(),
});
const dateSchema = z.union([z.number(), z.string()]).nullish();
const activeSchema = z.union([z.boolean(), z.enum(['true', 'false'])]).nullish();

export const userEntitySchema = z.object({
  name: z.string().min(1),
  'first-name': z.string().nullish(),
  'last-name': z.string().nullish(),
  'display-name': z.string().nullish(),
  email: z.string().nullish(),
  active: activeSchema,
  key: z.string().nullish(),
  attributes: attributeListSchema.nullish(),
  'created-date': dateSchema,
  'updated-date': dateSchema,
});
export type UserEntity = z.infer<typeof userEntitySchema>;

export const userListSchema = z.object({
  users: z.array(userEntitySchema).nullish(),
  user: z.array(userEntitySchema).nullish(),
});

const namedSchema = z.object({ name: z.string().min(1) });
export const groupListSchema = z.object({
  groups: z.array(namedSchema).nullish(),
  group: z.array(namedSchema).nullish(),
});

/** A Crowd user as the worker sees it. */
export interface CrowdUser {
  name: string;
  /** `<directoryId>:<externalId>`; undefined when the directory has no external id. */
  key: string | undefined;
  firstName: string | undefined;
  lastName: string | undefined;
  displayName: string | undefined;
  email: string | undefined;
  active: boolean;
  /** Only when the user was read with `expand=attributes`. */
  attributes: Record<string, string[]> | undefined;
  updatedAt: number | undefined;
}

function epochMs(value: number | string | null | undefined): number | undefined {
  if (value === null || value === undefined) return undefined;
  const t = typeof value === 'number' ? value : Date.parse(value);
  return Number.isFinite(t) ? t : undefined;
}

export function toCrowdUser(e: UserEntity, withAttributes: boolean): CrowdUser {
  const list = e.attributes?.attributes ?? e.attributes?.attribute;
  return {
    name: e.name,
    key: e.key ?? undefined,
    firstName: e['first-name'] ?? undefined,
    lastName: e['last-name'] ?? undefined,
    displayName: e['display-name'] ?? undefined,
    email: e.email ?? undefined,
    // Crowd defaults `active` to true when it is omitted.
    active: e.active === undefined || e.active === null ? true : e.active === true || e.active === 'true',
    attributes: withAttributes ? Object.fromEntries((list ?? []).map((a) => [a.name, a.values ?? []])) : undefined,
    updatedAt: epochMs(e['updated-date']),
  };
}

/** The profile fields of `POST/PUT /user` (everything a full replace sends, bar the password). */
export interface UserBody {
  name: string;
  'first-name'?: string;
  'last-name'?: string;
  'display-name'?: string;
  email?: string;
  active: boolean;
}

export const PROFILE_FIELDS = ['first-name', 'last-name', 'display-name', 'email'] as const;
export type ProfileField = (typeof PROFILE_FIELDS)[number];

/** App-side names of the profile fields, for `changedAttributes`. */
export const APP_FIELD: Readonly<Record<ProfileField | 'active' | 'name', string>> = {
  name: 'username',
  'first-name': 'firstName',
  'last-name': 'lastName',
  'display-name': 'displayName',
  email: 'email',
  active: 'active',
};

export const profileOf = (u: CrowdUser): Record<ProfileField, string | undefined> => ({
  'first-name': u.firstName,
  'last-name': u.lastName,
  'display-name': u.displayName,
  email: u.email,
});
