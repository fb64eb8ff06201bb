import { startCrowdEmulator } from '../emulators/crowd/index.js';
import { startEntraEmulator } from '../emulators/entra/index.js';

export interface EmulateCrowdOptions {
  port?: string;
  appName?: string;
  appPassword?: string;
}

export interface EmulateEntraOptions {
  port?: string;
  stateDir?: string;
}

/**
 * `idsync emulate crowd`: prints one JSON line with what a client needs, as its first
 * line on stdout, then serves until SIGTERM/SIGINT.
 */
export async function emulateCrowd(options: EmulateCrowdOptions): Promise<void> {
  const emulator = await startCrowdEmulator({
    port: parsePort(options.port),
    ...(options.appName && { applicationName: options.appName }),
    ...(options.appPassword && { applicationPassword: options.appPassword }),
  });
  process.stdout.write(`${JSON.stringify({ ...emulator.info, adminUrl: emulator.adminUrl })}\n`);
  closeOnSignal(() => emulator.close());
}

/**
 * `idsync emulate entra`: HTTPS Graph + token endpoint. Its CA lands in the state
 * directory; clients trust it through NODE_EXTRA_CA_CERTS=<caFile>.
 */
export async function emulateEntra(options: EmulateEntraOptions): Promise<void> {
  const emulator = await startEntraEmulator({
    port: parsePort(options.port),
    ...(options.stateDir && { stateDir: options.stateDir }),
  });
  process.stdout.write(`${JSON.stringify({ ...emulator.info, adminUrl: emulator.adminUrl })}\n`);
  closeOnSignal(() => emulator.close());
}

export function parsePort(value: string | undefined): number {
  if (value === undefined) return 0;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port expects a whole number from 0 to 65535, got "${value}"`);
  return port;
}

export function closeOnSignal(close: () => Promise<void>): void {
  const stop = () => close().then(() => process.exit(0), () => process.exit(1));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
