/**
 * What both VRRP socket families share: the API, the counters, the defaults.
 *
 * The VRRP socket: IP protocol 112 on one interface, one per (interface,
 * family). It sends with TTL / hop limit 255, joins the multicast group on
 * its interface, sends to the group or to unicast peers, and hands every
 * received packet to the handler with its real TTL / hop limit: checking it
 * is the codec's job (RFC 5798 §7.1), counting it the agent's. It decides
 * nothing.
 *
 * IPv4 rides on raw-socket with IP_HDRINCL (vrrp-socket4.ts), so the source
 * address is ours to choose; IPv6 rides on our addon (vrrp-socket6.ts),
 * because only recvmsg tells the hop limit of a received packet.
 */
import type { IpFamily, PacketMeta } from '../../vrrp/src/types.js';
import { KqError } from '../../common/src/errors.js';
import type { InterfaceInfo } from './interfaces.js';
import { AddressFormatter, AddressParser, requireAddress } from './address-text.js';

/** RFC 5798 §5.1.1.2 / §5.1.2.2 and keepalived's vrrp_mcast_group4 / vrrp_mcast_group6 defaults. */
export const VRRP_MULTICAST_GROUP4 = '224.0.0.18';
export const VRRP_MULTICAST_GROUP6 = 'ff02::12';
export const VRRP_PROTOCOL = 112;
export const VRRP_TTL = 255;

export interface VrrpSocketOptions {
  family: IpFamily;
  /** Interface name, e.g. "eth0". */
  interface: string;
  /** The group joined and sent to by `sendMulticast`; keepalived lets users pick another. */
  multicastGroup?: string;
  /**
   * The source address of every packet: keepalived's mcast_src_ip / unicast_src_ip.
   * Default: the interface's primary IPv4 address, or its IPv6 link-local address.
   */
  sourceAddress?: string;
  /** Receives every send or receive error (the socket never throws on the packet path). */
  onError?: (error: KqError) => void;
}

export type VrrpPacketMeta = PacketMeta & { ifindex: number };

/**
 * `payload` is a view of the socket's receive buffer, valid until the handler
 * returns: decode it right away, or copy it (`Buffer.from(payload)`) to keep it.
 */
export type VrrpPacketHandler = (payload: Buffer, meta: VrrpPacketMeta) => void;

export interface VrrpSocketCounters {
  packetsSent: number;
  bytesSent: number;
  sendErrors: number;
  packetsReceived: number;
  bytesReceived: number;
  receiveErrors: number;
  /** IPv4: packets whose IP header could not be read (too short, bad IHL); never delivered. */
  malformed: number;
  /**
   * IPv6: multicast for a group this socket did not join (ff02::1 reaches every
   * raw socket that is not bound to an address), dropped as the kernel drops
   * it for IPv4 with IP_MULTICAST_ALL off.
   */
  notJoined: number;
  /** Received before any handler was set. */
  unhandled: number;
  /** Thrown by the packet handler (reported through onError, the socket keeps going). */
  handlerErrors: number;
}

export interface VrrpSocket {
  readonly family: IpFamily;
  readonly interface: string;
  readonly ifindex: number;
  readonly multicastGroup: string;
  /** The source address packets leave with (what the VRRPv3 IPv4 pseudo-header checksum must use). */
  readonly sourceAddress: string;
  readonly counters: Readonly<VrrpSocketCounters>;
  readonly closed: boolean;
  /**
   * Sends one VRRP payload (the VRRP header onwards) to `destination`: the
   * multicast group or a unicast peer. Never throws on a network error: it is
   * counted and reported through onError.
   */
  send(payload: Buffer, destination: string): void;
  /** Sends to the multicast group. */
  sendMulticast(payload: Buffer): void;
  /** Sets (replaces) the packet handler. */
  onPacket(handler: VrrpPacketHandler): void;
  /** Sets (replaces) the error handler. */
  onError(handler: (error: KqError) => void): void;
  /** Changes the source address (the primary address changed, or the configuration did). */
  setSourceAddress(address: string): void;
  /**
   * Resolves when every packet passed to send() so far has been handed to the
   * kernel. IPv4 sends queue in raw-socket until the socket is writable (a
   * turn of the loop); await this before exiting the process, or a last
   * advert (priority 0 on shutdown) is lost.
   */
  flush(): Promise<void>;
  /** Leaves the group and closes once queued packets are out; idempotent. Further sends fail. */
  close(): void;
}

export function newCounters(): VrrpSocketCounters {
  return {
    packetsSent: 0,
    bytesSent: 0,
    sendErrors: 0,
    packetsReceived: 0,
    bytesReceived: 0,
    receiveErrors: 0,
    malformed: 0,
    notJoined: 0,
    unhandled: 0,
    handlerErrors: 0,
  };
}

export function socketError(message: string, cause?: unknown): KqError {
  const code = (cause as { code?: unknown } | undefined)?.code;
  const privilege = code === 'EPERM' || code === 'EACCES' || /not permitted/i.test(String((cause as Error | undefined)?.message ?? ''));
  return new KqError(
    privilege ? 'KQ_ERR_PRIVILEGE' : 'KQ_ERR_SOCKET',
    privilege ? `${message}: raw sockets need CAP_NET_RAW (run as root or grant the capability)` : message,
    undefined,
    cause === undefined ? undefined : { cause },
  );
}

export function defaultSource(options: VrrpSocketOptions, info: InterfaceInfo): string {
  if (options.sourceAddress !== undefined) return options.sourceAddress;
  const found = options.family === 4 ? info.primaryIpv4 : info.ipv6LinkLocal;
  if (found === undefined) {
    throw new KqError(
      'KQ_ERR_SOCKET',
      options.family === 4
        ? `interface ${info.name} has no IPv4 address to send VRRP from: add one, or set mcast_src_ip / unicast_src_ip`
        : `interface ${info.name} has no IPv6 link-local address to send VRRP from: enable IPv6 on it, or set mcast_src_ip / unicast_src_ip`,
    );
  }
  return found;
}

/** Runs the user's handler so that a throwing handler never breaks the socket. */
export function deliver(
  handler: VrrpPacketHandler | undefined,
  payload: Buffer,
  meta: VrrpPacketMeta,
  counters: VrrpSocketCounters,
  report: (error: KqError) => void,
): void {
  counters.packetsReceived++;
  counters.bytesReceived += payload.length;
  if (!handler) {
    counters.unhandled++;
    return;
  }
  try {
    handler(payload, meta);
  } catch (cause) {
    counters.handlerErrors++;
    report(new KqError('KQ_ERR_SOCKET', `the VRRP packet handler threw: ${(cause as Error)?.message ?? String(cause)}`, undefined, { cause }));
  }
}

/**
 * What both families' sockets share: handlers, counters, the source address,
 * and the rule that an error is reported, never thrown, on the packet path.
 */
export abstract class VrrpSocketCommon {
  readonly counters = newCounters();
  closed = false;
  sourceAddress: string;
  protected source: Buffer;
  protected handler: VrrpPacketHandler | undefined;
  protected errorHandler: ((error: KqError) => void) | undefined;
  protected readonly destinations: AddressParser;
  protected readonly sources: AddressFormatter;
  protected readonly groupsSeen: AddressFormatter;
  readonly interface: string;

  constructor(
    readonly family: IpFamily,
    ifname: string,
    readonly ifindex: number,
    readonly multicastGroup: string,
    sourceAddress: string,
    onError: ((error: KqError) => void) | undefined,
  ) {
    this.interface = ifname;
    this.sourceAddress = sourceAddress;
    this.source = requireAddress(sourceAddress, family, 'VRRP source address');
    this.errorHandler = onError;
    this.destinations = new AddressParser(family);
    this.sources = new AddressFormatter(family);
    this.groupsSeen = new AddressFormatter(family);
  }

  abstract send(payload: Buffer, destination: string): void;

  onPacket(handler: VrrpPacketHandler): void {
    this.handler = handler;
  }

  onError(handler: (error: KqError) => void): void {
    this.errorHandler = handler;
  }

  setSourceAddress(address: string): void {
    this.source = requireAddress(address, this.family, 'VRRP source address');
    this.sourceAddress = address;
  }

  sendMulticast(payload: Buffer): void {
    this.send(payload, this.multicastGroup);
  }

  /** Sends are synchronous in both families: nothing is ever queued. */
  flush(): Promise<void> {
    return Promise.resolve();
  }

  protected sendFailed(destination: string, reason: string, cause?: unknown): void {
    this.counters.sendErrors++;
    this.report(new KqError('KQ_ERR_SOCKET', `VRRP send to ${destination} on ${this.interface} failed: ${reason}`, undefined, cause === undefined ? undefined : { cause }));
  }

  protected report(error: KqError): void {
    const handler = this.errorHandler;
    if (!handler) return;
    try {
      handler(error);
    } catch {
      // an error handler that throws must not take the socket down with it
    }
  }
}
