/**
 * The few rtnetlink messages keepquorum needs — read a link, dump addresses,
 * add and delete an address, hear link and address changes — encoded and
 * decoded here, over the `netlink` package's raw socket.
 *
 * Why not the package's rtnetlink layer: its generated structures for every
 * rtnetlink, nl80211 and WireGuard message cost the agent about 6 MB of
 * resident memory (measured by the footprint benchmark) for the four messages
 * used. The formats are linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h and
 * linux/if_link.h; integers in host byte order.
 */
import { endianness } from 'node:os';
import { getSystemErrorName } from 'node:util';
import { RawNetlinkSocket } from 'netlink/dist/raw.js';

const NETLINK_ROUTE = 0;

export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;

export const RTNLGRP_LINK = 1;
export const RTNLGRP_IPV4_IFADDR = 5;
export const RTNLGRP_IPV6_IFADDR = 9;

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;

const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;

const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_LABEL = 3;
const IFA_BROADCAST = 4;
const IFA_CACHEINFO = 6;
const IFA_FLAGS = 8;

export const IFF_UP = 0x1;
export const IFF_RUNNING = 0x40;
export const IFF_LOWER_UP = 0x10000;

export const IFA_F_SECONDARY = 0x01;
export const IFA_F_NODAD = 0x02;
export const IFA_F_DEPRECATED = 0x20;
export const IFA_F_TENTATIVE = 0x40;

const HEADER = 16;
const LE = endianness() === 'LE';

const u16 = (b: Buffer, o: number) => (LE ? b.readUInt16LE(o) : b.readUInt16BE(o));
const u32 = (b: Buffer, o: number) => (LE ? b.readUInt32LE(o) : b.readUInt32BE(o));
const i32 = (b: Buffer, o: number) => (LE ? b.readInt32LE(o) : b.readInt32BE(o));
const w16 = (b: Buffer, v: number, o: number) => (LE ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
const w32 = (b: Buffer, v: number, o: number) => (LE ? b.writeUInt32LE(v >>> 0, o) : b.writeUInt32BE(v >>> 0, o));
const wi32 = (b: Buffer, v: number, o: number) => (LE ? b.writeInt32LE(v, o) : b.writeInt32BE(v, o));
const align4 = (n: number) => (n + 3) & ~3;

export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  port: number;
  payload: Buffer;
}

/** A refusal from the kernel, with its errno name ("EEXIST"). */
export class RtnetlinkError extends Error {
  constructor(
    readonly errno: number,
    readonly code: string,
  ) {
    super(`rtnetlink: ${code}`);
    this.name = 'RtnetlinkError';
  }
}

/** Splits one datagram into its messages; stops at anything malformed. */
export function parseMessages(buf: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  let off = 0;
  while (off + HEADER <= buf.length) {
    const len = u32(buf, off);
    if (len < HEADER || off + len > buf.length) break;
    out.push({ type: u16(buf, off + 4), flags: u16(buf, off + 6), seq: u32(buf, off + 8), port: u32(buf, off + 12), payload: buf.subarray(off + HEADER, off + len) });
    off += align4(len);
  }
  return out;
}

/** rtattrs of a payload after its fixed part, by type (the last one of a type wins). */
export function parseAttributes(buf: Buffer, start: number): Map<number, Buffer> {
  const attrs = new Map<number, Buffer>();
  let off = start;
  while (off + 4 <= buf.length) {
    const len = u16(buf, off);
    if (len < 4 || off + len > buf.length) break;
    attrs.set(u16(buf, off + 2) & 0x3fff, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return attrs;
}

export function attribute(type: number, data: Buffer): Buffer {
  const out = Buffer.alloc(align4(4 + data.length));
  w16(out, 4 + data.length, 0);
  w16(out, type, 2);
  data.copy(out, 4);
  return out;
}

const u32Attr = (type: number, v: number): Buffer => {
  const b = Buffer.alloc(4);
  w32(b, v, 0);
  return attribute(type, b);
};
const stringAttr = (type: number, s: string): Buffer => attribute(type, Buffer.from(`${s}\0`));

function message(type: number, flags: number, seq: number, body: Buffer[]): Buffer {
  const payload = Buffer.concat(body);
  const out = Buffer.alloc(HEADER + payload.length);
  w32(out, out.length, 0);
  w16(out, type, 4);
  w16(out, flags, 6);
  w32(out, seq, 8);
  w32(out, 0, 12);
  payload.copy(out, HEADER);
  return out;
}

function ifinfomsg(index: number): Buffer {
  const b = Buffer.alloc(16);
  wi32(b, index, 4);
  return b;
}

function ifaddrmsg(family: number, prefixLength: number, flags: number, scope: number, index: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = family;
  b[1] = prefixLength;
  b[2] = flags & 0xff;
  b[3] = scope;
  w32(b, index, 4);
  return b;
}

// ---------------------------------------------------------------------------
// The messages

export interface LinkInfo {
  index: number;
  name: string | undefined;
  flags: number;
  mac: Buffer;
  mtu: number;
}

export function parseLink(payload: Buffer): LinkInfo | undefined {
  if (payload.length < 16) return undefined;
  const attrs = parseAttributes(payload, 16);
  const name = attrs.get(IFLA_IFNAME);
  const mtu = attrs.get(IFLA_MTU);
  return {
    index: i32(payload, 4),
    flags: u32(payload, 8),
    name: name ? name.subarray(0, name.indexOf(0) >= 0 ? name.indexOf(0) : name.length).toString() : undefined,
    mac: Buffer.from(attrs.get(IFLA_ADDRESS) ?? Buffer.alloc(0)),
    mtu: mtu && mtu.length >= 4 ? u32(mtu, 0) : 0,
  };
}

export interface AddressInfo {
  family: number;
  prefixLength: number;
  /** IFA_FLAGS when present (all 32 bits), else the 8-bit ifa_flags. */
  flags: number;
  scope: number;
  index: number;
  local: Buffer | undefined;
  address: Buffer | undefined;
  label: string | undefined;
  broadcast: Buffer | undefined;
}

export function parseAddress(payload: Buffer): AddressInfo | undefined {
  if (payload.length < 8) return undefined;
  const attrs = parseAttributes(payload, 8);
  const flags = attrs.get(IFA_FLAGS);
  const label = attrs.get(IFA_LABEL);
  return {
    family: payload[0]!,
    prefixLength: payload[1]!,
    flags: flags && flags.length >= 4 ? u32(flags, 0) : payload[2]!,
    scope: payload[3]!,
    index: u32(payload, 4),
    local: attrs.get(IFA_LOCAL),
    address: attrs.get(IFA_ADDRESS),
    label: label ? label.subarray(0, label.indexOf(0) >= 0 ? label.indexOf(0) : label.length).toString() : undefined,
    broadcast: attrs.get(IFA_BROADCAST),
  };
}

export function getLinkRequest(seq: number, name: string): Buffer {
  return message(RTM_GETLINK, NLM_F_REQUEST, seq, [ifinfomsg(0), stringAttr(IFLA_IFNAME, name)]);
}

export function dumpAddressesRequest(seq: number): Buffer {
  return message(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, [ifaddrmsg(AF_UNSPEC, 0, 0, 0, 0)]);
}

export interface AddressChange {
  family: number;
  bytes: Buffer;
  prefixLength: number;
  scope: number;
  index: number;
  /** IFA_F_* flags (e.g. NODAD). */
  flags?: number;
  label?: string;
  broadcast?: Buffer;
  /** IFA_CACHEINFO preferred lifetime in seconds (0 = deprecated at once). */
  preferredLifetime?: number;
}

const INFINITY_LIFETIME = 0xffffffff;

export function newAddressRequest(seq: number, a: AddressChange): Buffer {
  const attrs = [attribute(IFA_LOCAL, a.bytes), attribute(IFA_ADDRESS, a.bytes)];
  if (a.flags !== undefined) attrs.push(u32Attr(IFA_FLAGS, a.flags));
  if (a.label !== undefined) attrs.push(stringAttr(IFA_LABEL, a.label));
  if (a.broadcast !== undefined) attrs.push(attribute(IFA_BROADCAST, a.broadcast));
  if (a.preferredLifetime !== undefined) {
    const ci = Buffer.alloc(16);
    w32(ci, a.preferredLifetime, 0);
    w32(ci, INFINITY_LIFETIME, 4);
    attrs.push(attribute(IFA_CACHEINFO, ci));
  }
  return message(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq, [
    ifaddrmsg(a.family, a.prefixLength, a.flags ?? 0, a.scope, a.index),
    ...attrs,
  ]);
}

export function deleteAddressRequest(seq: number, a: Pick<AddressChange, 'family' | 'bytes' | 'prefixLength' | 'index'>): Buffer {
  // IFA_ADDRESS with the prefix length makes the kernel match the prefix too, not the address alone.
  return message(RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, seq, [
    ifaddrmsg(a.family, a.prefixLength, 0, 0, a.index),
    attribute(IFA_LOCAL, a.bytes),
    attribute(IFA_ADDRESS, a.bytes),
  ]);
}

// ---------------------------------------------------------------------------
// The socket

interface Pending {
  collected: NlMessage[];
  resolve: (messages: NlMessage[]) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export interface RtSocketOptions {
  /** Multicast groups to hear (RTNLGRP_*). */
  groups?: number[];
  /** Keep the process alive while open (a watch); otherwise only while a request waits. */
  ref?: boolean;
  recvBufferSize?: number;
}

/**
 * One rtnetlink socket: requests matched to replies by sequence number (a dump
 * collects its parts until NLMSG_DONE, a change waits for its ACK), and
 * notifications (messages with sequence 0) handed to a listener.
 */
export class RtSocket {
  private readonly raw: RawNetlinkSocket;
  private readonly port: number;
  private readonly pending = new Map<number, Pending>();
  private seq = Math.floor(Math.random() * 0x7fffffff) + 1;
  private notify: ((m: NlMessage) => void) | undefined;
  private errorListener: ((e: Error) => void) | undefined;
  private closed = false;

  constructor(private readonly options: RtSocketOptions = {}) {
    this.raw = new RawNetlinkSocket(NETLINK_ROUTE, {
      recvBufferSize: options.recvBufferSize ?? 1 << 18,
      sendBufferSize: 1 << 16,
    });
    this.port = this.raw.address().port;
    for (const g of options.groups ?? []) this.raw.addMembership(g);
    this.raw.on('message', (buf) => this.receive(buf));
    this.raw.on('error', (err) => this.failAll(err));
    if (!options.ref) this.raw.unref();
  }

  onNotification(listener: (m: NlMessage) => void): void {
    this.notify = listener;
  }

  onError(listener: (e: Error) => void): void {
    this.errorListener = listener;
  }

  /** Sends a message built for `seq` and resolves with the reply's messages (dump parts, or none for an ACK). */
  request(build: (seq: number) => Buffer, timeoutMs: number): Promise<NlMessage[]> {
    if (this.closed) return Promise.reject(new Error('rtnetlink socket closed'));
    const seq = this.nextSeq();
    return new Promise<NlMessage[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.settle(seq);
        reject(new Error(`rtnetlink: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(seq, { collected: [], resolve, reject, timer });
      if (!this.options.ref) this.raw.ref();
      this.raw.send(build(seq), {}, (err) => {
        if (err) {
          this.settle(seq);
          reject(err);
        }
      });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new Error('rtnetlink socket closed'));
    this.raw.close();
  }

  private nextSeq(): number {
    this.seq = this.seq >= 0x7fffffff ? 1 : this.seq + 1;
    return this.seq;
  }

  private settle(seq: number): Pending | undefined {
    const p = this.pending.get(seq);
    if (!p) return undefined;
    clearTimeout(p.timer);
    this.pending.delete(seq);
    if (this.pending.size === 0 && !this.options.ref && !this.closed) this.raw.unref();
    return p;
  }

  private receive(buf: Buffer): void {
    for (const m of parseMessages(buf)) {
      // A reply is addressed to our port; a notification carries the port and
      // sequence of whoever caused it (another process's `ip addr del`, say).
      const p = m.port === this.port ? this.pending.get(m.seq) : undefined;
      if (!p) {
        if (m.type >= RTM_NEWLINK) this.notify?.(m);
        continue;
      }
      if (m.type === NLMSG_ERROR) {
        const errno = m.payload.length >= 4 ? -i32(m.payload, 0) : 0;
        this.settle(m.seq);
        if (errno === 0) p.resolve(p.collected);
        else p.reject(new RtnetlinkError(errno, safeErrnoName(errno)));
      } else if (m.type === NLMSG_DONE) {
        this.settle(m.seq);
        p.resolve(p.collected);
      } else {
        // Copied: the datagram's buffer is reused by the next receive.
        p.collected.push({ ...m, payload: Buffer.from(m.payload) });
        if ((m.flags & NLM_F_MULTI) === 0) {
          this.settle(m.seq);
          p.resolve(p.collected);
        }
      }
    }
  }

  private failAll(err: Error): void {
    for (const seq of [...this.pending.keys()]) this.settle(seq)?.reject(err);
    if (!this.closed) this.errorListener?.(err);
  }
}

function safeErrnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}
