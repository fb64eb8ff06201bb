import { z } from 'zod';

/**
 * The Graph v1.0 shapes the worker reads (reference §3, §4, §5), as lenient zod schemas:
 * extra properties are kept (users are an open type and `$select` decides what comes back),
 * absent values arrive as null.
 */

export const graphUserSchema = z.looseObject({
  id: z.string().min(1),
  userPrincipalName: z.string().nullish(),
  accountEnabled: z.boolean().nullish(),
  onPremisesSyncEnabled: z.boolean().nullish(),
});

/** A user as Graph returned it: `values` holds every selected property. */
export interface GraphUser {
  id: string;
  userPrincipalName: string;
  accountEnabled: boolean;
  /** Mastered on-premises (Entra Connect / cloud sync): most properties are read-only here. */
  onPremisesSyncEnabled: boolean;
  values: Readonly<Record<string, unknown>>;
}

export function toGraphUser(parsed: z.infer<typeof graphUserSchema>): GraphUser {
  return {
    id: parsed.id,
    userPrincipalName: parsed.userPrincipalName ?? '',
    // Graph defaults accountEnabled to true; null means it was not selected.
    accountEnabled: parsed.accountEnabled !== false,
    onPremisesSyncEnabled: parsed.onPremisesSyncEnabled === true,
    values: parsed,
  };
}

export const pageSchema = z.looseObject({
  value: z.array(z.unknown()),
  '@odata.nextLink': z.string().optional(),
  '@odata.deltaLink': z.string().optional(),
});

export const directoryObjectSchema = z.looseObject({
  id: z.string().min(1),
  '@odata.type': z.string().optional(),
  displayName: z.string().nullish(),
  groupTypes: z.array(z.string()).nullish(),
});

export const organizationSchema = z.object({
  value: z.array(
    z.looseObject({
      id: z.string(),
      verifiedDomains: z.array(z.looseObject({ name: z.string(), isDefault: z.boolean().nullish() })).nullish(),
    }),
  ),
});

/** A delta item: a user with its selected properties, or `{id, @removed:{reason}}`. */
export const deltaItemSchema = z.looseObject({
  id: z.string().min(1),
  '@removed': z.object({ reason: z.string() }).optional(),
});

/** Properties every user read selects, beyond what the mapping manages. */
export const BASE_SELECT = ['id', 'userPrincipalName', 'displayName', 'givenName', 'surname', 'mail', 'accountEnabled', 'onPremisesSyncEnabled'] as const;
