// The package's public surface: the client library. Named exports only.
export { createSyncClient, type SyncClient } from './client.js';
export type { SyncClientOptions, EnqueueOptions, RefreshOptions, Enqueued } from './client-options.js';
export { ValidationError, isValidationError, type ValidationIssue } from '../shared/errors.js';
export type { UserSnapshotInput, UserRef, RemoteUser, Target } from '../shared/jobs.js';
