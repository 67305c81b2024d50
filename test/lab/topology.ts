/**
 * LAB.md's address plan for one segment (198.18.0.0/16), as functions, and
 * `buildSegment` that plugs the hosts of a scenario into a lab.
 *
 * Every IPv4 host address 198.18.X.Y has an IPv6 twin fd00:198:18::X:Y (the
 * decimal digits read as hex groups, so the two are easy to match by eye).
 */
import { LabError, type HostSpec, type Lab, type LabHost } from './lab.js';

/** Prefix length of the segment: one /16, so the client reaches every VIP directly. */
export const SEGMENT_PREFIX_V4 = 16;
export const SEGMENT_PREFIX_V6 = 64;

export const GATEWAY: HostSpec = { name: 'gw', ipv4: '198.18.0.1' };
/** The client watches gratuitous ARP, so it accepts neighbour entries it did not ask for. */
export const CLIENT: HostSpec = { name: 'cl', ipv4: '198.18.0.50', arpAccept: true };

export const MAX_NATS_SERVERS = 3;
export const MAX_ARBITERS = 2;
/** Pair n uses 198.18.1.(2n-1) and 198.18.1.(2n); both must stay below .255. */
export const MAX_PAIRS = 127;
/** VRID 50+n must stay a valid VRID (1..255). */
export const MAX_VIPS = 205;

/** The IPv6 twin of a segment address: 198.18.X.Y ↔ fd00:198:18::X:Y (canonical form). */
export function ipv6Twin(ipv4: string): string {
  const m = /^198\.18\.(\d{1,3})\.(\d{1,3})$/.exec(ipv4);
  if (!m) throw new LabError(`${ipv4}: only 198.18.0.0/16 addresses have an IPv6 twin in this plan`);
  const [x, y] = [Number(m[1]), Number(m[2])];
  if (x > 255 || y > 255) throw new LabError(`${ipv4} is not an IPv4 address`);
  // `ip` prints fd00:198:18:0:0:0:0:50 as fd00:198:18::50; the twin must compare equal to what it prints.
  return x === 0 ? `fd00:198:18::${y}` : `fd00:198:18::${x}:${y}`;
}

function withTwin(spec: HostSpec, ipv6: boolean): HostSpec {
  return ipv6 ? { ...spec, ipv6: ipv6Twin(spec.ipv4) } : { ...spec };
}

function checkIndex(kind: string, n: number, max: number): void {
  if (!Number.isInteger(n) || n < 1 || n > max) throw new LabError(`${kind} ${n} is outside 1..${max}`);
}

export function natsServer(i: number): HostSpec {
  checkIndex('NATS server', i, MAX_NATS_SERVERS);
  return { name: `nats${i}`, ipv4: `198.18.0.${1 + i}` };
}

export function arbiter(i: number): HostSpec {
  checkIndex('arbiter', i, MAX_ARBITERS);
  return { name: `arb${i}`, ipv4: `198.18.0.${4 + i}` };
}

/** The two agent hosts of pair n: a<n> = 198.18.1.(2n-1), b<n> = 198.18.1.(2n). */
export function agentPair(n: number): { a: HostSpec; b: HostSpec } {
  checkIndex('pair', n, MAX_PAIRS);
  return {
    a: { name: `a${n}`, ipv4: `198.18.1.${2 * n - 1}` },
    b: { name: `b${n}`, ipv4: `198.18.1.${2 * n}` },
  };
}

/** keepalived peer n: ka<n> = 198.18.2.n. */
export function keepalivedPeer(n: number): HostSpec {
  checkIndex('keepalived peer', n, 254);
  return { name: `ka${n}`, ipv4: `198.18.2.${n}` };
}

export interface Vip {
  /** 198.18.10.n */
  ipv4: string;
  /** 198.18.10.n/16, as keepalived's virtual_ipaddress and `ip addr add` take it. */
  ipv4Cidr: string;
  /** fd00:198:18::10:n */
  ipv6: string;
  /** fd00:198:18::10:n/64 */
  ipv6Cidr: string;
  /** 50 + n */
  vrid: number;
}

/** The VIP of pair n (or of any VRRP instance numbered n): 198.18.10.n/16, VRID 50+n. */
export function vipOf(n: number): Vip {
  checkIndex('VIP', n, MAX_VIPS);
  const ipv4 = `198.18.10.${n}`;
  const ipv6 = ipv6Twin(ipv4);
  return { ipv4, ipv4Cidr: `${ipv4}/${SEGMENT_PREFIX_V4}`, ipv6, ipv6Cidr: `${ipv6}/${SEGMENT_PREFIX_V6}`, vrid: 50 + n };
}

export interface SegmentSpec {
  /** Number of agent pairs (a1/b1 … an/bn). Default 0. */
  pairs?: number;
  /** Number of keepalived peers (ka1 … kan). Default 0. */
  keepalivedPeers?: number;
  /** Plug in the client. Default false. */
  client?: boolean;
  /** Plug in the gateway. Default false. */
  gateway?: boolean;
  /** Number of NATS servers (0..3). Default 0. */
  nats?: number;
  /** Number of arbiter replicas (0..2). Default 0. */
  arbiters?: number;
  /** Give every host its IPv6 twin. Default true. */
  ipv6?: boolean;
}

export interface Pair {
  n: number;
  a: LabHost;
  b: LabHost;
  vip: Vip;
}

export interface Segment {
  gateway?: LabHost;
  client?: LabHost;
  pairs: Pair[];
  keepalived: LabHost[];
  nats: LabHost[];
  arbiters: LabHost[];
}

/** Plug the hosts of a scenario into the lab, addressed as LAB.md says. */
export async function buildSegment(lab: Lab, spec: SegmentSpec): Promise<Segment> {
  const ipv6 = spec.ipv6 ?? true;
  const add = (h: HostSpec): Promise<LabHost> => lab.addHost(withTwin(h, ipv6));
  const range = (count: number | undefined): number[] => Array.from({ length: count ?? 0 }, (_, i) => i + 1);
  // Plugged in one after the other: the log then reads in plan order and a
  // failure names the first host that could not be added.
  const gateway = spec.gateway ? await add(GATEWAY) : undefined;
  const nats: LabHost[] = [];
  for (const i of range(spec.nats)) nats.push(await add(natsServer(i)));
  const arbiters: LabHost[] = [];
  for (const i of range(spec.arbiters)) arbiters.push(await add(arbiter(i)));
  const pairs: Pair[] = [];
  for (const n of range(spec.pairs)) {
    const { a, b } = agentPair(n);
    pairs.push({ n, a: await add(a), b: await add(b), vip: vipOf(n) });
  }
  const keepalived: LabHost[] = [];
  for (const n of range(spec.keepalivedPeers)) keepalived.push(await add(keepalivedPeer(n)));
  const client = spec.client ? await add(CLIENT) : undefined;
  const segment: Segment = { pairs, keepalived, nats, arbiters };
  if (gateway) segment.gateway = gateway;
  if (client) segment.client = client;
  return segment;
}
