import type { Core } from './core.js';
import { notFound } from './errors.js';
import { json, type GraphRequest, type GraphResponse } from './http.js';
import { requirePermission } from './permissions.js';

function organization(core: Core): Record<string, unknown> {
  return {
    id: core.tenantId,
    deletedDateTime: null,
    businessPhones: [],
    city: null,
    country: null,
    countryLetterCode: 'US',
    createdDateTime: core.organization.createdDateTime,
    defaultUsageLocation: null,
    displayName: core.organization.displayName,
    marketingNotificationEmails: [],
    onPremisesLastSyncDateTime: null,
    onPremisesSyncEnabled: null,
    partnerTenantType: null,
    postalCode: null,
    preferredLanguage: 'en',
    securityComplianceNotificationMails: [],
    securityComplianceNotificationPhones: [],
    state: null,
    street: null,
    technicalNotificationMails: [],
    tenantType: 'AAD',
    assignedPlans: [],
    provisionedPlans: [],
    privacyProfile: null,
    mobileDeviceManagementAuthority: 'unknown',
    verifiedDomains: core.directory.domains.map((d) => ({
      capabilities: d.isInitial ? 'Email, OfficeCommunicationsOnline' : 'None',
      isDefault: d.isDefault,
      isInitial: d.isInitial,
      name: d.name,
      type: d.federated ? 'Federated' : 'Managed',
    })),
  };
}

export function listOrganization(req: GraphRequest, core: Core): GraphResponse {
  requirePermission(req.auth, 'readOrganization');
  return json(200, { '@odata.context': `${req.origin}/v1.0/$metadata#organization`, value: [organization(core)] });
}

export function getOrganization(req: GraphRequest, core: Core, id: string): GraphResponse {
  requirePermission(req.auth, 'readOrganization');
  if (id.toLowerCase() !== core.tenantId) throw notFound(id);
  return json(200, { '@odata.context': `${req.origin}/v1.0/$metadata#organization/$entity`, ...organization(core) });
}
