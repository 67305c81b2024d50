/**
 * VRRP over IPv4. We write the IP header ourselves, as keepalived does, so the
 * source address is the configured one (not the kernel's pick) and TTL and TOS
 * are what VRRP wants. Receiving is raw-socket's (it delivers the IP header,
 * parsed here for TTL, source and destination); sending goes through the
 * addon's send-only socket, which sends at once: raw-socket would queue the
 * packet until the loop polls again (+1.3 ms measured on takeover, and two
 * epoll_ctl calls per advert).
 */
import { endianness } from 'node:os';
import { KqError } from '../../common/src/errors.js';
import type { InterfaceInfo } from './interfaces.js';
import { isMulticast, requireAddress } from './address-text.js';
import { nativeAddon, rawSocketModule, type RawSocket } from './native.js';
import { getSystemErrorName } from 'node:util';
import {
  VrrpSocketCommon,
  VRRP_MULTICAST_GROUP4,
  VRRP_PROTOCOL,
  VRRP_TTL,
  defaultSource,
  deliver,
  socketError,
  type VrrpSocket,
  type VrrpSocketOptions,
} from './vrrp-socket-base.js';

// Linux socket option numbers (asm-generic/socket.h, linux/in.h).
const SOL_SOCKET = 1;
const SO_BINDTODEVICE = 25;
const SO_RCVBUF = 8;
const IPPROTO_IP = 0;
const IP_ADD_MEMBERSHIP = 35;
const IP_DROP_MEMBERSHIP = 36;
const IP_MULTICAST_ALL = 49;

/** keepalived's TOS for adverts: IPTOS_PREC_INTERNETCONTROL (precedence 6, DSCP CS6). */
export const VRRP_TOS = 0xc0;
const IP_HEADER_LENGTH = 20;
/** The largest VRRP packet: 255 IPv4 addresses plus header and auth is far below this. */
const RECEIVE_BUFFER_SIZE = 4096;
const SEND_BUFFER_SIZE = 1500;

/** struct ip_mreqn: group, local address (any), interface index in host order. */
function ipMreqn(group: Buffer, ifindex: number): Buffer {
  const request = Buffer.alloc(12);
  group.copy(request, 0);
  if (endianness() === 'LE') request.writeInt32LE(ifindex, 8);
  else request.writeInt32BE(ifindex, 8);
  return request;
}

class VrrpSocket4 extends VrrpSocketCommon implements VrrpSocket {
  declare readonly family: 4;
  private readonly packet = Buffer.alloc(SEND_BUFFER_SIZE);
  private ipId = 0;
  private rawClosed = false;

  constructor(
    private readonly raw: RawSocket,
    private readonly sendFd: number,
    ifname: string,
    ifindex: number,
    multicastGroup: string,
    private readonly group: Buffer,
    sourceAddress: string,
    onError: ((error: KqError) => void) | undefined,
  ) {
    super(4, ifname, ifindex, multicastGroup, sourceAddress, onError);
    raw.on('message', (packet: Buffer) => this.receive(packet));
    raw.on('error', (cause: Error) => {
      this.counters.receiveErrors++;
      this.report(socketError(`VRRP socket on ${this.interface}: ${cause.message}`, cause));
    });
    raw.on('close', () => {
      if (this.rawClosed) return;
      // raw-socket closes itself when its poll fails; say so, the agent has to open a new socket.
      this.rawClosed = true;
      this.closed = true;
      nativeAddon().raw4Close(this.sendFd);
      this.report(new KqError('KQ_ERR_SOCKET', `the IPv4 VRRP socket on ${this.interface} was closed after an error; open a new one`));
    });
  }

  send(payload: Buffer, destination: string): void {
    if (this.closed) {
      this.sendFailed(destination, 'the socket is closed');
      return;
    }
    const destinationBytes = this.destinations.parse(destination);
    if (!destinationBytes) {
      this.sendFailed(destination, 'not an IPv4 address');
      return;
    }
    const length = IP_HEADER_LENGTH + payload.length;
    if (length > 0xffff) {
      this.sendFailed(destination, `payload of ${payload.length} bytes is too large`);
      return;
    }
    const packet = length <= SEND_BUFFER_SIZE ? this.packet : Buffer.allocUnsafe(length);
    packet[0] = 0x45; // version 4, 5 words of header: no options
    packet[1] = VRRP_TOS;
    packet.writeUInt16BE(length, 2);
    // The kernel fills in a zero ID itself; keepalived counts from 1 and skips 0, so do we.
    this.ipId = (this.ipId + 1) & 0xffff || 1;
    packet.writeUInt16BE(this.ipId, 4);
    packet.writeUInt16BE(0, 6); // no fragmentation flags, as keepalived
    packet[8] = VRRP_TTL;
    packet[9] = VRRP_PROTOCOL;
    packet.writeUInt16BE(0, 10); // header checksum: always computed by the kernel for a raw socket
    this.source.copy(packet, 12);
    destinationBytes.copy(packet, 16);
    payload.copy(packet, IP_HEADER_LENGTH);
    const errno = nativeAddon().raw4Send(this.sendFd, packet, length, destinationBytes);
    if (errno !== 0) {
      this.sendFailed(destination, safeErrno(errno));
      return;
    }
    this.counters.packetsSent++;
    this.counters.bytesSent += payload.length;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.raw.setOption(IPPROTO_IP, IP_DROP_MEMBERSHIP, ipMreqn(this.group, this.ifindex), 12);
    } catch {
      // closing drops the membership anyway
    }
    this.closeRaw();
  }

  private closeRaw(): void {
    if (this.rawClosed) return;
    this.rawClosed = true;
    nativeAddon().raw4Close(this.sendFd);
    this.raw.close();
  }

  private receive(packet: Buffer): void {
    if (this.closed) return;
    const length = packet.length;
    if (length < IP_HEADER_LENGTH || packet[0]! >> 4 !== 4) {
      this.counters.malformed++;
      return;
    }
    const headerLength = (packet[0]! & 0x0f) * 4;
    const totalLength = packet.readUInt16BE(2);
    if (headerLength < IP_HEADER_LENGTH || headerLength > length || totalLength < headerLength) {
      this.counters.malformed++;
      return;
    }
    // Trust the shorter of what arrived and what the header claims: the codec sees exactly the datagram.
    const end = totalLength < length ? totalLength : length;
    const payload = packet.subarray(headerLength, end);
    deliver(
      this.handler,
      payload,
      {
        family: 4,
        source: this.sources.format(packet, 12),
        destination: this.groupsSeen.format(packet, 16),
        ttl: packet[8]!,
        ifindex: this.ifindex,
      },
      this.counters,
      (error) => this.report(error),
    );
  }
}

export function openVrrpSocket4(options: VrrpSocketOptions, info: InterfaceInfo): VrrpSocket {
  const multicastGroup = options.multicastGroup ?? VRRP_MULTICAST_GROUP4;
  const group = requireAddress(multicastGroup, 4, 'VRRP multicast group');
  if (!isMulticast(group, 4)) throw new KqError('KQ_ERR_CONFIG_VALUE', `VRRP multicast group ${multicastGroup} is not an IPv4 multicast address (224.0.0.0/4)`);
  const sourceAddress = defaultSource(options, info);
  requireAddress(sourceAddress, 4, 'VRRP source address');

  const raw = rawSocketModule();
  let socket: RawSocket;
  try {
    socket = raw.createSocket({ protocol: VRRP_PROTOCOL, addressFamily: raw.AddressFamily.IPv4, bufferSize: RECEIVE_BUFFER_SIZE });
  } catch (cause) {
    throw socketError(`cannot open the IPv4 VRRP socket on ${info.name}`, cause);
  }
  const step = (what: string, action: () => void): void => {
    try {
      action();
    } catch (cause) {
      opened.close();
      throw socketError(`IPv4 VRRP socket on ${info.name}: ${what} failed: ${(cause as Error).message}`, cause);
    }
  };
  // The handlers go on at once. raw-socket cannot bind at creation, so a packet
  // that reached another interface in the microseconds before SO_BINDTODEVICE
  // may still be read once; the codec's VRID and address checks refuse it.
  let sendFd: number;
  try {
    sendFd = nativeAddon().raw4Open(info.name, info.index);
  } catch (cause) {
    socket.close();
    throw socketError(`cannot open the IPv4 VRRP send socket on ${info.name}`, cause);
  }
  const opened = new VrrpSocket4(socket, sendFd, info.name, info.index, multicastGroup, group, sourceAddress, options.onError);
  const ifname = Buffer.from(`${info.name}\0`);
  step('SO_BINDTODEVICE', () => socket.setOption(SOL_SOCKET, SO_BINDTODEVICE, ifname, ifname.length));
  // Only the groups this socket joined: otherwise a raw socket also gets
  // protocol 112 sent to any group another socket, or the kernel (224.0.0.1), joined.
  step('IP_MULTICAST_ALL', () => socket.setOption(IPPROTO_IP, IP_MULTICAST_ALL, 0));
  step('SO_RCVBUF', () => socket.setOption(SOL_SOCKET, SO_RCVBUF, 256 * 1024));
  step(`joining ${multicastGroup}`, () => socket.setOption(IPPROTO_IP, IP_ADD_MEMBERSHIP, ipMreqn(group, info.index), 12));
  return opened;
}

function safeErrno(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}
