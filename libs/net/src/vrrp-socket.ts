/**
 * Opening a VRRP socket: look the interface up, then hand over to the family's
 * implementation (vrrp-socket4.ts on raw-socket, vrrp-socket6.ts on our addon).
 */
import { KqError } from '../../common/src/errors.js';
import { getInterface } from './interfaces.js';
import type { VrrpSocket, VrrpSocketOptions } from './vrrp-socket-base.js';
import { openVrrpSocket4 } from './vrrp-socket4.js';
import { openVrrpSocket6 } from './vrrp-socket6.js';

export * from './vrrp-socket-base.js';

/** Opens the VRRP socket of one family on one interface. */
export async function openVrrpSocket(options: VrrpSocketOptions): Promise<VrrpSocket> {
  if (options.family !== 4 && options.family !== 6) {
    throw new KqError('KQ_ERR_CONFIG_VALUE', `VRRP socket family must be 4 or 6, got ${String(options.family)}`);
  }
  const info = await getInterface(options.interface);
  return options.family === 4 ? openVrrpSocket4(options, info) : openVrrpSocket6(options, info);
}

