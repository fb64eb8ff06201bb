import { GraphError } from './errors.js';

/**
 * Property lists of the v1.0 types the emulator serves (from v1.0-Prod.csdl). Codes:
 * s string, b boolean, i Int32, d DateTimeOffset, S string collection, o complex,
 * O complex collection; '!' marks non-nullable.
 */
export type Kind = 's' | 'b' | 'i' | 'd' | 'S' | 'o' | 'O';

export interface EntitySchema {
  typeName: string;
  entitySet: string;
  props: ReadonlyMap<string, { kind: Kind; nullable: boolean }>;
  byLowerName: ReadonlyMap<string, string>;
  defaultSelect: readonly string[];
  /** Values for non-nullable scalars the emulator does not model. */
  fallback: Readonly<Record<string, unknown>>;
  /** Complex properties Graph always returns whole: every member, null when unset. */
  complete: Readonly<Record<string, readonly string[]>>;
}

function schema(
  typeName: string,
  entitySet: string,
  spec: string,
  defaultSelect: readonly string[],
  fallback: Record<string, unknown> = {},
  complete: Record<string, readonly string[]> = {},
): EntitySchema {
  const props = new Map<string, { kind: Kind; nullable: boolean }>();
  for (const item of spec.trim().split(/\s+/)) {
    const [name, code] = item.split(':') as [string, string];
    props.set(name, { kind: code[0] as Kind, nullable: !code.endsWith('!') });
  }
  const byLowerName = new Map([...props.keys()].map((k) => [k.toLowerCase(), k]));
  return { typeName, entitySet, props, byLowerName, defaultSelect, fallback, complete };
}

export const USER = schema(
  'user',
  'users',
  `id:s! deletedDateTime:d aboutMe:s accountEnabled:b ageGroup:s assignedLicenses:O! assignedPlans:O!
   authorizationInfo:o birthday:d! businessPhones:S! city:s companyName:s consentProvidedForMinor:s country:s
   createdDateTime:d creationType:s customSecurityAttributes:o department:s deviceEnrollmentLimit:i!
   displayName:s employeeHireDate:d employeeId:s employeeLeaveDateTime:d employeeOrgData:o employeeType:s
   externalUserState:s externalUserStateChangeDateTime:d faxNumber:s givenName:s hireDate:d! identities:O
   identityParentId:s imAddresses:S interests:S isManagementRestricted:b isResourceAccount:b jobTitle:s
   lastPasswordChangeDateTime:d legalAgeGroupClassification:s licenseAssignmentStates:O mail:s
   mailboxSettings:o mailNickname:s mobilePhone:s mySite:s officeLocation:s onPremisesDistinguishedName:s
   onPremisesDomainName:s onPremisesExtensionAttributes:o onPremisesImmutableId:s onPremisesLastSyncDateTime:d
   onPremisesProvisioningErrors:O onPremisesSamAccountName:s onPremisesSecurityIdentifier:s
   onPremisesSyncEnabled:b onPremisesUserPrincipalName:s otherMails:S! passwordPolicies:s passwordProfile:o
   pastProjects:S postalCode:s preferredDataLocation:s preferredLanguage:s preferredName:s print:o
   provisionedPlans:O! proxyAddresses:S! responsibilities:S schools:S securityIdentifier:s
   serviceProvisioningErrors:O showInAddressList:b signInActivity:o signInSessionsValidFromDateTime:d skills:S
   state:s streetAddress:s surname:s usageLocation:s userPrincipalName:s userType:s`,
  ['businessPhones', 'displayName', 'givenName', 'jobTitle', 'mail', 'mobilePhone', 'officeLocation', 'preferredLanguage', 'surname', 'userPrincipalName', 'id'],
  { birthday: '0001-01-01T08:00:00Z', hireDate: '0001-01-01T08:00:00Z', deviceEnrollmentLimit: 5 },
  { onPremisesExtensionAttributes: Array.from({ length: 15 }, (_, i) => `extensionAttribute${i + 1}`) },
);

export const GROUP = schema(
  'group',
  'groups',
  `id:s! deletedDateTime:d accessType:s allowExternalSenders:b assignedLabels:O assignedLicenses:O
   autoSubscribeNewMembers:b classification:s createdDateTime:d description:s displayName:s expirationDateTime:d
   groupTypes:S! hasMembersWithLicenseErrors:b hideFromAddressLists:b hideFromOutlookClients:b infoCatalogs:S!
   isArchived:b isAssignableToRole:b isFavorite:b isManagementRestricted:b isSubscribedByMail:b
   licenseProcessingState:o mail:s mailEnabled:b mailNickname:s membershipRule:s membershipRuleProcessingState:s
   onPremisesDomainName:s onPremisesExtensionAttributes:o onPremisesLastSyncDateTime:d onPremisesNetBiosName:s
   onPremisesProvisioningErrors:O onPremisesSamAccountName:s onPremisesSecurityIdentifier:s onPremisesSyncEnabled:b
   organizationId:s preferredDataLocation:s preferredLanguage:s proxyAddresses:S! renewedDateTime:d
   resourceBehaviorOptions:S! resourceProvisioningOptions:S! securityEnabled:b securityIdentifier:s
   serviceProvisioningErrors:O theme:s uniqueName:s unseenConversationsCount:i unseenCount:i
   unseenMessagesCount:i visibility:s welcomeMessageEnabled:b`,
  // Outlook-backed properties (allowExternalSenders, isSubscribedByMail, unseen*...) are select-only on Graph too.
  [
    'id', 'deletedDateTime', 'classification', 'createdDateTime', 'description', 'displayName', 'expirationDateTime',
    'groupTypes', 'isAssignableToRole', 'mail', 'mailEnabled', 'mailNickname', 'membershipRule',
    'membershipRuleProcessingState', 'onPremisesDomainName', 'onPremisesLastSyncDateTime', 'onPremisesNetBiosName',
    'onPremisesSamAccountName', 'onPremisesSecurityIdentifier', 'onPremisesSyncEnabled', 'preferredDataLocation',
    'preferredLanguage', 'proxyAddresses', 'renewedDateTime', 'resourceBehaviorOptions', 'resourceProvisioningOptions',
    'securityEnabled', 'securityIdentifier', 'theme', 'visibility', 'onPremisesProvisioningErrors',
    'serviceProvisioningErrors',
  ],
);

/** User properties kept in SharePoint Online; Graph refuses them on list `$select`. */
export const SHAREPOINT_PROPS = new Set([
  'aboutMe', 'birthday', 'hireDate', 'interests', 'mySite', 'pastProjects', 'preferredName', 'responsibilities', 'schools', 'skills',
]);

/** Resolves a `$select` list (case-insensitive, canonical names out) or throws Graph's parse error. */
export function parseSelect(s: EntitySchema, raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  const names: string[] = [];
  for (const part of raw.split(',')) {
    const name = part.trim();
    if (!name) continue;
    if (name === '*') return [...s.props.keys()];
    const canonical = s.byLowerName.get(name.toLowerCase());
    if (!canonical) {
      throw new GraphError(
        400,
        'BadRequest',
        `Parsing OData Select and Expand failed: Could not find a property named '${name}' on type 'microsoft.graph.${s.typeName}'.`,
      );
    }
    if (!names.includes(canonical)) names.push(canonical);
  }
  return names.length ? names : undefined;
}

/** Shapes a stored record: absent collections as [], absent scalars as null. */
export function project(
  s: EntitySchema,
  values: Readonly<Record<string, unknown>>,
  select: readonly string[] | undefined,
  options: { omitAbsent?: boolean; alwaysId?: boolean } = {},
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const names = select ?? s.defaultSelect;
  for (const name of names) {
    const v = values[name];
    const members = s.complete[name];
    if (members && !(options.omitAbsent && (v === undefined || v === null))) {
      const set = (v ?? {}) as Record<string, unknown>;
      out[name] = Object.fromEntries(members.map((m) => [m, set[m] ?? null]));
    } else if (v !== undefined && v !== null) out[name] = v;
    else if (options.omitAbsent) continue;
    else {
      const spec = s.props.get(name);
      if (name in s.fallback) out[name] = s.fallback[name];
      else out[name] = spec && (spec.kind === 'S' || spec.kind === 'O') ? [] : null;
    }
  }
  // Delta always returns the key; plain reads return exactly what was selected.
  if (options.alwaysId && !('id' in out) && values.id !== undefined) out.id = values.id;
  return out;
}

export function contextUrl(base: string, set: string, select: readonly string[] | undefined, entity: boolean): string {
  const sel = select ? `(${select.join(',')})` : '';
  return `${base}/v1.0/$metadata#${set}${sel}${entity ? '/$entity' : ''}`;
}
