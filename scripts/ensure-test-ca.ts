// The test and bench commands export NODE_EXTRA_CA_CERTS=.idsync/entra/ca.pem, and Node reads that file only at
// process start, so the Entra emulator's CA must exist (and stay the same) before they launch.
import { ensureCertificateAuthority } from '../emulators/entra/index.js';

await ensureCertificateAuthority('.idsync/entra');
