// The package's public surface: the client library. Named exports only.
export { createSyncClient, type SyncClient } from './client.js';
export type { SyncClientOptions, EnqueueOptions, ProvisionOptions, ProvisionRun, RefreshOptions, Enqueued } from './client-options.js';
export type { PulledChange, PulledChangeHandler, PulledChangeOptions, PulledChangeSubscription } from './pulled-changes.js';
export { ValidationError, isValidationError, RedisUnavailableError, isRedisUnavailableError, type ValidationIssue } from '../shared/errors.js';
export type { UserSnapshotInput, UserRef, RemoteUser, Target, AppField, SyncProgress, ProvisionResult } from '../shared/jobs.js';
