/**
 * VRRP over IPv6 on our addon: a raw socket for protocol 112 read with
 * recvmsg, so each packet comes with its hop limit (IPV6_RECVHOPLIMIT) and
 * destination (IPV6_RECVPKTINFO). The kernel strips the IPv6 header; the
 * payload starts at the VRRP header. The source address of each packet is set
 * with IPV6_PKTINFO, as keepalived does.
 */
import { getSystemErrorName } from 'node:util';
import { KqError } from '../../common/src/errors.js';
import type { InterfaceInfo } from './interfaces.js';
import { isMulticast, requireAddress } from './address-text.js';
import { NativeMeta, nativeAddon, type NativeAddon, type Vrrp6Handle } from './native.js';
import {
  VrrpSocketCommon,
  VRRP_MULTICAST_GROUP6,
  defaultSource,
  deliver,
  socketError,
  type VrrpSocket,
  type VrrpSocketOptions,
} from './vrrp-socket-base.js';

/** Room for the largest VRRP packet (255 IPv6 addresses: 4088 bytes) and then some. */
const RECEIVE_BUFFER_SIZE = 8192;

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

class VrrpSocket6 extends VrrpSocketCommon implements VrrpSocket {
  declare readonly family: 6;
  private handle: Vrrp6Handle | undefined;
  private readonly receiveBuffer = Buffer.alloc(RECEIVE_BUFFER_SIZE);
  private readonly metaBuffer = Buffer.alloc(NativeMeta.size);

  constructor(
    private readonly addon: NativeAddon,
    ifname: string,
    ifindex: number,
    multicastGroup: string,
    private readonly group: Buffer,
    sourceAddress: string,
    onError: ((error: KqError) => void) | undefined,
  ) {
    super(6, ifname, ifindex, multicastGroup, sourceAddress, onError);
  }

  /** Opens the native socket; separate from the constructor so that `this.receive` exists first. */
  open(): void {
    try {
      this.handle = this.addon.vrrp6Open(this.ifindex, this.interface, this.receiveBuffer, this.metaBuffer, (n) => this.receive(n));
    } catch (cause) {
      throw socketError(`cannot open the IPv6 VRRP socket on ${this.interface}: ${(cause as Error).message}`, cause);
    }
    try {
      this.addon.vrrp6Join(this.handle, this.group);
    } catch (cause) {
      this.close();
      throw socketError(`IPv6 VRRP socket on ${this.interface}: joining ${this.multicastGroup} failed: ${(cause as Error).message}`, cause);
    }
  }

  send(payload: Buffer, destination: string): void {
    if (this.closed || !this.handle) {
      this.sendFailed(destination, 'the socket is closed');
      return;
    }
    const destinationBytes = this.destinations.parse(destination);
    if (!destinationBytes) {
      this.sendFailed(destination, 'not an IPv6 address');
      return;
    }
    const errno = this.addon.vrrp6Send(this.handle, payload, payload.length, destinationBytes, this.source);
    if (errno !== 0) {
      this.sendFailed(destination, errnoName(errno));
      return;
    }
    this.counters.packetsSent++;
    this.counters.bytesSent += payload.length;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.handle) this.addon.vrrp6Close(this.handle);
    this.handle = undefined;
  }

  private receive(n: number): void {
    if (n < 0) {
      this.counters.receiveErrors++;
      this.report(new KqError('KQ_ERR_SOCKET', `VRRP receive on ${this.interface} failed: ${errnoName(-n)}`));
      return;
    }
    const meta = this.metaBuffer;
    if (meta[NativeMeta.destination] === 0xff && meta.compare(this.group, 0, 16, NativeMeta.destination, NativeMeta.destination + 16) !== 0) {
      this.counters.notJoined++;
      return;
    }
    const ifindex = meta.readInt32LE(NativeMeta.ifindex);
    deliver(
      this.handler,
      this.receiveBuffer.subarray(0, n),
      {
        family: 6,
        source: this.sources.format(meta, NativeMeta.source),
        destination: this.groupsSeen.format(meta, NativeMeta.destination),
        ttl: meta.readInt32LE(NativeMeta.hopLimit),
        ifindex: ifindex > 0 ? ifindex : this.ifindex,
      },
      this.counters,
      (error) => this.report(error),
    );
  }
}

export function openVrrpSocket6(options: VrrpSocketOptions, info: InterfaceInfo): VrrpSocket {
  const multicastGroup = options.multicastGroup ?? VRRP_MULTICAST_GROUP6;
  const group = requireAddress(multicastGroup, 6, 'VRRP multicast group');
  if (!isMulticast(group, 6)) throw new KqError('KQ_ERR_CONFIG_VALUE', `VRRP multicast group ${multicastGroup} is not an IPv6 multicast address (ff00::/8)`);
  const sourceAddress = defaultSource(options, info);
  const socket = new VrrpSocket6(nativeAddon(), info.name, info.index, multicastGroup, group, sourceAddress, options.onError);
  socket.open();
  return socket;
}
