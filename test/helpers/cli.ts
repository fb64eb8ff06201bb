import { spawn } from 'node:child_process';
import { REDIS_URL } from './redis.js';

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `idsync …` as a script runs it: the real binary (from source through tsx) on a test's
 * prefix, with the machine's target and application settings cleared, to completion.
 */
export function runIdsync(prefix: string, args: string[]): Promise<CommandResult> {
  const env: Record<string, string | undefined> = { ...process.env, REDIS_URL, IDSYNC_PREFIX: prefix, IDSYNC_LOG_LEVEL: 'silent' };
  for (const key of Object.keys(env)) if (/^(CROWD_|ENTRA_|GRAPH_|IDSYNC_TARGETS|APP_)/.test(key)) delete env[key];
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/idsync.ts', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}
