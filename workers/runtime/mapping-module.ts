import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PermanentError } from '../../shared/errors.js';

/**
 * What the connectors' optional mapping modules (CROWD_MAPPING_MODULE, ENTRA_MAPPING_MODULE)
 * have in common: how they are loaded and how their hooks fail. Which hooks exist, and how
 * an `attributeMap` is validated, stays with each connector's mapping.ts.
 */

/**
 * Imports a mapping module (a path, relative to the working directory, or a file: URL) and
 * returns its exports; named exports win over those on a default export object. `label`
 * names the target in errors ('Crowd', 'Entra').
 */
export async function importMappingModule(label: string, specifier: string): Promise<Record<string, unknown>> {
  const url = specifier.startsWith('file:') ? specifier : pathToFileURL(resolve(specifier)).href;
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`cannot load the ${label} mapping module ${specifier}: ${(err as Error).message}`);
  }
  return (typeof loaded['default'] === 'object' && loaded['default'] !== null ? { ...(loaded['default'] as object), ...loaded } : loaded) as Record<string, unknown>;
}

/**
 * Refuses exports idsync does not read: a misspelt hook (`attributemap`, `alterCrowduser`)
 * would otherwise load without a word and never run.
 */
export function refuseUnknownExports(label: string, specifier: string, exports: Record<string, unknown>, known: readonly string[]): void {
  const unknown = Object.keys(exports).filter((k) => k !== 'default' && !known.includes(k));
  if (unknown.length) {
    throw new Error(`the ${label} mapping module ${specifier} exports ${unknown.join(', ')}, which idsync does not read (it reads ${known.join(', ')}); a misspelt name would silently not run`);
  }
}

/** Refuses an attributeMap with two app attributes on one remote name: they would overwrite each other on every push. */
export function refuseSharedTargets(label: string, specifier: string, map: Readonly<Record<string, string>>, remoteName: string): void {
  const byTarget = new Map<string, string[]>();
  for (const [app, remote] of Object.entries(map)) byTarget.set(remote, [...(byTarget.get(remote) ?? []), app]);
  const shared = [...byTarget].filter(([, apps]) => apps.length > 1);
  if (shared.length) {
    throw new Error(`the ${label} mapping module ${specifier} maps ${shared.map(([remote, apps]) => `${apps.join(' and ')} onto ${remote}`).join('; ')}: each ${remoteName} takes one app attribute`);
  }
}

/** The hooks among `names` that the module exports, each checked to be a function. */
export function pickHooks<M extends object>(label: string, specifier: string, exports: Record<string, unknown>, names: readonly (keyof M & string)[]): M {
  const module: Record<string, unknown> = {};
  for (const fn of names) {
    const v = exports[fn];
    if (v === undefined) continue;
    if (typeof v !== 'function') throw new Error(`the ${label} mapping module ${specifier} exports ${fn}, but it is not a function`);
    module[fn] = v;
  }
  return module as M;
}

/** Runs a hook; whatever it throws fails the job (PermanentError): a retry would throw again. */
export async function runHook<T>(label: string, name: string, run: () => T | Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw new PermanentError(`the ${label} mapping module's ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The link's `writtenHash` of a canonical form: equal desired states hash alike across processes and restarts. */
export function stableHash(canonical: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url').slice(0, 32);
}

/** The first spelling of each name, ignoring case. */
export function uniqueCaseless(names: readonly string[]): string[] {
  const seen = new Map<string, string>();
  for (const n of names) if (!seen.has(n.toLowerCase())) seen.set(n.toLowerCase(), n);
  return [...seen.values()];
}

/**
 * Whether two lists of attribute values hold the same values. Crowd keeps a user's values of
 * one attribute as a set (duplicates dropped ignoring case, no order kept), so a list compares
 * by its distinct values: comparing in order would rewrite, or report, the same values forever.
 */
export function sameValues(a: readonly string[], b: readonly string[]): boolean {
  const x = uniqueCaseless(a).sort();
  const y = uniqueCaseless(b).sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}
