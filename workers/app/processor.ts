import type { Job } from 'bullmq';
import { ZodError } from 'zod';
import type { AuditLog, AuditStatus } from '../../shared/audit.js';
import type { Authority } from '../../shared/config.js';
import { PermanentError } from '../../shared/errors.js';
import { APP_FIELDS, parseJobData, type AppField, type ApplyUserData, type Target } from '../../shared/jobs.js';
import { remoteHash, type LinkStore } from '../../shared/links.js';
import type { Logger } from '../../shared/logger.js';
import { valuesFrom } from '../runtime/authority.js';
import { IMPORT_FIELDS, photoFrom } from './changes.js';
import type { UserDirectory } from './directory.js';

export interface AppJobResult {
  outcome: 'applied' | 'skipped';
  appUserId?: string;
  created?: boolean;
  changed: string[];
  reason?: string;
}

export interface ApplyProcessorDeps {
  directory: UserDirectory;
  links: LinkStore;
  audit: AuditLog;
  logger: Logger;
  /** Per target, which side wins each attribute: a pull takes only the target's. */
  authority: Readonly<Record<Target, Readonly<Record<AppField, Authority>>>>;
}

/**
 * Applies one `apply-user` job to the application through the directory, links the remote
 * user, and audits it (target `app`). Retries are the runtime's; this only classifies.
 */
export function createApplyProcessor(deps: ApplyProcessorDeps) {
  const { directory, links } = deps;

  const apply = async (data: ApplyUserData, signal: AbortSignal): Promise<AppJobResult> => {
    const call = { abortSignal: signal };
    const { remote, source } = data;
    let id = data.appUserId ?? (remote ? await links.findByRemoteId(source, remote.remoteId) : undefined);

    if (data.action === 'disable') {
      if (!id) throw new PermanentError('an appDisable needs the application user id');
      const r = await directory.apply({ id, values: { active: false }, source }, call);
      return { outcome: r.changed.length ? 'applied' : 'skipped', appUserId: r.id, changed: r.changed };
    }
    // A remote user that is gone is no reason to touch the app: absence is not deletion.
    if (!remote) return { outcome: 'skipped', ...(id && { appUserId: id }), changed: [], reason: `the user no longer exists in ${source}` };

    const fields: readonly AppField[] =
      data.action === 'import' ? IMPORT_FIELDS
        : data.action === 'update' ? (data.fields ?? [])
          : APP_FIELDS.filter((f) => deps.authority[source][f] === 'target');
    if (!id && data.action !== 'import') {
      return { outcome: 'skipped', changed: [], reason: `the ${source} user ${remote.username} is linked to no application user (a full sync or an import links it)` };
    }
    const values = valuesFrom(remote, fields, data.appUsername);
    let created = false;
    const changed: string[] = [];
    if (Object.keys(values).length || !id) {
      const r = await directory.apply({ ...(id && { id }), values, source, remoteId: remote.remoteId }, call);
      id = r.id;
      created = r.created;
      changed.push(...r.changed);
    }
    if (fields.includes('roles') && remote.roles) {
      if (!(await directory.setRoles(id!, remote.roles, call))) throw new PermanentError(`application user ${id} does not exist`);
      changed.push('roles');
    }
    const photo = fields.includes('photo') ? photoFrom(remote) : undefined;
    if (photo !== undefined) {
      if (!(await directory.setPhoto(id!, photo, call))) throw new PermanentError(`application user ${id} does not exist`);
      changed.push('photo');
    }
    await links.update(source, id!, { remoteId: remote.remoteId, remoteName: remote.username, readHash: remoteHash(remote) });
    // A creation is applied even when the directory lists no changed field (a webhook may answer so).
    return { outcome: created || changed.length ? 'applied' : 'skipped', appUserId: id!, created, changed };
  };

  return async function process(job: Job, _token?: string, signal?: AbortSignal): Promise<AppJobResult> {
    const started = Date.now();
    const attempt = job.attemptsMade + 1;
    let data: ApplyUserData;
    try {
      data = parseJobData('app', job.name, job.data) as ApplyUserData;
    } catch (err) {
      const detail = err instanceof ZodError ? err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') : (err as Error).message;
      throw new PermanentError(`invalid ${job.name} payload: ${detail}`);
    }
    const result = await apply(data, signal ?? new AbortController().signal);
    const status: AuditStatus = result.outcome === 'applied' ? 'succeeded' : 'skipped';
    deps.logger.info({ jobId: job.id, action: data.action, source: data.source, appUserId: result.appUserId, changed: result.changed }, `pulled change ${status}`);
    await deps.audit.append({
      time: Date.now(), target: 'app', operation: data.action, resource: 'user', subject: result.appUserId ?? data.remote?.username ?? 'unknown',
      status, attempt, durationMs: Date.now() - started, jobId: job.id, changedAttributes: result.changed,
      ...(result.reason && { error: result.reason }),
    });
    return result;
  };
}
