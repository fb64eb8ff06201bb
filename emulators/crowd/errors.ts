// The ErrorEntity model of Crowd 5.1.6: every mapped exception becomes {reason, message}
// with a status fixed per reason (reference §3.1). Handlers throw; server.ts renders.

export type CrowdReason =
  | 'APPLICATION_ACCESS_DENIED'
  | 'APPLICATION_PERMISSION_DENIED'
  | 'EXPIRED_CREDENTIAL'
  | 'GROUP_NOT_FOUND'
  | 'ILLEGAL_ARGUMENT'
  | 'INACTIVE_ACCOUNT'
  | 'INVALID_USER_AUTHENTICATION'
  | 'INVALID_CREDENTIAL'
  | 'INVALID_EMAIL'
  | 'INVALID_GROUP'
  | 'INVALID_SSO_TOKEN'
  | 'INVALID_USER'
  | 'MEMBERSHIP_NOT_FOUND'
  | 'MEMBERSHIP_ALREADY_EXISTS'
  | 'NESTED_GROUPS_NOT_SUPPORTED'
  | 'APPLICATION_NOT_FOUND'
  | 'UNSUPPORTED_OPERATION'
  | 'USER_NOT_FOUND'
  | 'OPERATION_FAILED'
  | 'EVENT_TOKEN_EXPIRED'
  | 'INCREMENTAL_SYNC_NOT_AVAILABLE'
  | 'WEBHOOK_NOT_FOUND'
  | 'APPLICATION_MODIFICATION_FAILED'
  | 'DIRECTORY_NOT_FOUND'
  | 'PERMISSION_DENIED'
  | 'INVALID_MEMBERSHIP'
  | 'APPLICATION_ALREADY_EXISTS'
  | 'INVALID_CHANGE_EMAIL_TOKEN'
  | 'SAME_EMAIL_ADDRESS';

export const REASON_STATUS: Readonly<Record<CrowdReason, number>> = {
  APPLICATION_ACCESS_DENIED: 403,
  APPLICATION_PERMISSION_DENIED: 403,
  EXPIRED_CREDENTIAL: 400,
  GROUP_NOT_FOUND: 404,
  ILLEGAL_ARGUMENT: 400,
  INACTIVE_ACCOUNT: 400,
  INVALID_USER_AUTHENTICATION: 400,
  INVALID_CREDENTIAL: 400,
  INVALID_EMAIL: 400,
  INVALID_GROUP: 400,
  INVALID_SSO_TOKEN: 400,
  INVALID_USER: 400,
  MEMBERSHIP_NOT_FOUND: 404,
  MEMBERSHIP_ALREADY_EXISTS: 409,
  NESTED_GROUPS_NOT_SUPPORTED: 400,
  APPLICATION_NOT_FOUND: 404,
  UNSUPPORTED_OPERATION: 400,
  USER_NOT_FOUND: 404,
  OPERATION_FAILED: 500,
  EVENT_TOKEN_EXPIRED: 410,
  INCREMENTAL_SYNC_NOT_AVAILABLE: 400,
  WEBHOOK_NOT_FOUND: 404,
  APPLICATION_MODIFICATION_FAILED: 500,
  DIRECTORY_NOT_FOUND: 400,
  PERMISSION_DENIED: 401,
  INVALID_MEMBERSHIP: 400,
  APPLICATION_ALREADY_EXISTS: 409,
  INVALID_CHANGE_EMAIL_TOKEN: 400,
  SAME_EMAIL_ADDRESS: 400,
};

// These errors are expected control flow (a 404 per probe of a missing user, thousands per
// second under benchmark): capturing a stack trace for each would cost more than the request.
/** A mapped Crowd exception, rendered as an ErrorEntity. */
export class CrowdError extends Error {
  readonly reason: CrowdReason;
  readonly status: number;

  /** `status` overrides the table only where Crowd does (entity named in a body missing → 400). */
  constructor(reason: CrowdReason, message: string, status?: number) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.reason = reason;
    this.status = status ?? REASON_STATUS[reason];
  }
}

/** A container-level failure that is not an ErrorEntity (Jersey/Jackson/Tomcat answers). */
export class RawHttpError extends Error {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: string;
  readonly headers: Record<string, string>;

  constructor(status: number, body = '', contentType?: string, headers: Record<string, string> = {}) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(body || `HTTP ${status}`);
    Error.stackTraceLimit = limit;
    this.status = status;
    this.body = body;
    this.contentType = contentType;
    this.headers = headers;
  }
}

export const userNotFound = (name: string, status?: number): CrowdError =>
  new CrowdError('USER_NOT_FOUND', `User <${name}> does not exist`, status);

export const groupNotFound = (name: string, status?: number): CrowdError =>
  new CrowdError('GROUP_NOT_FOUND', `Group <${name}> does not exist`, status);

export const membershipNotFound = (child: string, parent: string): CrowdError =>
  new CrowdError('MEMBERSHIP_NOT_FOUND', `The child entity <${child}> is not a member of the parent <${parent}>`);

export const membershipExists = (child: string, parent: string): CrowdError =>
  new CrowdError(
    'MEMBERSHIP_ALREADY_EXISTS',
    `Membership already exists from child entity [${child}] to parent entity [${parent}]`,
  );

export const illegalArgument = (message: string): CrowdError => new CrowdError('ILLEGAL_ARGUMENT', message);

/** Jackson's mapper answers malformed JSON with a bare text/plain 400. */
export const malformedBody = (message: string): RawHttpError =>
  new RawHttpError(400, message, 'text/plain;charset=UTF-8');
