import { loadConfig } from '../../shared/config.js';
import { InvalidEnvironmentError } from '../../shared/errors.js';

/** The variables `loadConfig(env)` refuses, each with its message; throws if it accepts `env`. */
export function configProblems(env: Record<string, string>): Record<string, string> {
  try {
    loadConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidEnvironmentError);
    return Object.fromEntries((e as InvalidEnvironmentError).variables.map((v) => [v.path, v.message]));
  }
  throw new Error('expected loadConfig to throw');
}
