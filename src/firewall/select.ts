// Picks the nft transport: libnftables in-process when the addon has it, else
// spawning nft. `--nft-transport=lib` insists on the library.

import { TwineError } from '../errors.js';
import { createExecTransport } from './transport-exec.js';
import { createLibTransport, libTransportAvailable } from './transport-lib.js';
import type { NftTransport } from './transport.js';

export type TransportChoice = 'auto' | 'lib' | 'exec';
export const TRANSPORT_CHOICES: readonly TransportChoice[] = ['auto', 'lib', 'exec'];

export function selectTransport(choice: TransportChoice): NftTransport {
  if (choice === 'exec') return createExecTransport();
  if (libTransportAvailable()) return createLibTransport();
  if (choice === 'lib') {
    throw new TwineError('--nft-transport=lib: the native addon was built without libnftables (install libnftables-dev and rebuild with `npm ci`)');
  }
  return createExecTransport();
}
