export interface ErrorDetail {
  code: string;
  message?: string;
  target?: string;
}

/**
 * Thrown by Graph handlers; the dispatcher renders it as Graph's
 * `{"error":{code,message,innerError}}` envelope (graph-client reads `innerError`, camelCase).
 */
export class GraphError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: ErrorDetail[],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const notFound = (key: string): GraphError =>
  new GraphError(
    404,
    'Request_ResourceNotFound',
    `Resource '${key}' does not exist or one of its queried reference-property objects are not present.`,
  );

export const badRequest = (message: string, details?: ErrorDetail[]): GraphError =>
  new GraphError(400, 'Request_BadRequest', message, details);

export const invalidValue = (property: string, resource = 'User'): GraphError =>
  badRequest(`Invalid value specified for property '${property}' of resource '${resource}'.`, [
    { code: 'InvalidValue', target: property },
  ]);

export const requiredMissing = (property: string): GraphError =>
  badRequest(`Property ${property} value is required but is empty or missing.`);

export const unsupportedQuery = (message = 'Unsupported Query.'): GraphError =>
  new GraphError(400, 'Request_UnsupportedQuery', message);

export const accessDenied = (): GraphError =>
  new GraphError(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');

export const segmentNotFound = (segment: string): GraphError =>
  new GraphError(400, 'BadRequest', `Resource not found for the segment '${segment}'.`);

export const methodNotAllowed = (): GraphError =>
  new GraphError(405, 'Request_BadRequest', 'Specified HTTP method is not allowed for the request target.');

const TRANSIENT: Record<number, [string, string]> = {
  429: ['TooManyRequests', 'Please retry again later.'],
  500: ['InternalServerError', 'An internal server error occurred.'],
  502: ['BadGateway', 'The server, while acting as a gateway, received an invalid response.'],
  503: ['ServiceUnavailable', 'The service is temporarily unavailable. You may repeat the request after a delay.'],
  504: ['GatewayTimeout', 'The gateway did not receive a timely response from the upstream server.'],
  507: ['InsufficientStorage', 'The maximum storage quota has been reached.'],
  509: ['BandwidthLimitExceeded', 'Your app has been throttled for exceeding the maximum bandwidth cap.'],
};

export function transientError(status: number, retryAfterSeconds?: number): GraphError {
  const [code, message] = TRANSIENT[status] ?? ['UnknownError', 'An error occurred.'];
  const headers: Record<string, string> = retryAfterSeconds === undefined ? {} : { 'Retry-After': formatSeconds(retryAfterSeconds) };
  return new GraphError(status, code, message, undefined, headers);
}

/** Retry-After may be fractional on Graph ("2.128"); keep millisecond precision, never 0. */
export function formatSeconds(seconds: number): string {
  const rounded = Math.max(0.001, Math.ceil(seconds * 1000) / 1000);
  return String(rounded);
}

export function errorBody(
  err: GraphError,
  requestId: string,
  clientRequestId: string,
  now: Date,
): Record<string, unknown> {
  // Graph's innerError date has no fractional seconds.
  const date = now.toISOString().replace(/\.\d{3}Z$/, '');
  const innerError: Record<string, unknown> = { date, 'request-id': requestId, 'client-request-id': clientRequestId };
  if (err.status === 429) Object.assign(innerError, { code: '429', message: 'Please retry after', status: '429' });
  const error: Record<string, unknown> = { code: err.code, message: err.message };
  if (err.details) error.details = err.details;
  error.innerError = innerError;
  return { error };
}

/** Fills innerError with the ids and time of the response it travels in. */
export function stampInnerError(body: unknown, requestId: string, clientRequestId: string, now: Date): void {
  if (typeof body !== 'object' || body === null || !('error' in body)) return;
  const inner = (body as { error: { innerError?: Record<string, unknown> } }).error.innerError;
  if (!inner) return;
  inner['request-id'] = requestId;
  inner['client-request-id'] = clientRequestId;
  inner.date = now.toISOString().replace(/\.\d{3}Z$/, '');
}

// ---- Entra ID (AADSTS) errors from the token endpoint ----

export class AadstsError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly aadsts: number,
    readonly description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(`AADSTS${aadsts}: ${description}`);
  }
}

export function aadstsBody(err: AadstsError, traceId: string, correlationId: string, now: Date): Record<string, unknown> {
  const timestamp = now.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
  return {
    error: err.error,
    error_description: `AADSTS${err.aadsts}: ${err.description}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
    error_codes: [err.aadsts],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${err.aadsts}`,
  };
}
