import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A temporary folder for mapping modules written by a test file: created before its tests,
 * removed after them. `file(name, source)` writes one and resolves with its path.
 */
export function tempModules(label: string): { file(name: string, source: string): Promise<string>; path(name: string): string } {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `idsync-${label}-`));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return {
    path: (name) => join(dir, name),
    async file(name, source) {
      await writeFile(join(dir, name), source);
      return join(dir, name);
    },
  };
}

/** How a promise failed, as [error class, message]; undefined when it resolved. */
export const failure = (p: Promise<unknown>): Promise<[string, string] | undefined> =>
  p.then(() => undefined, (e: Error) => [e.constructor.name, e.message]);
