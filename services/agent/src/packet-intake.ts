/**
 * From a received protocol-112 packet to an instance event: decode (ordered
 * checks), find the instance by VRID, check it against that instance, hand it
 * over. Every refusal is counted by reason and logged at a bounded rate; no
 * packet, however malformed, can throw past this point.
 */
import type { Logger } from 'pino';
import {
  checkAgainstInstance,
  checkDestination,
  decodeAdvertisement,
  sameAddress,
  type Advertisement,
  type InstanceExpectation,
  type ListeningExpectation,
  type V3ChecksumMode,
} from '../../../libs/vrrp/src/mod.js';
import type { VrrpPacketMeta } from '../../../libs/net/src/mod.js';

export interface IntakeBinding {
  name: string;
  expectation: InstanceExpectation;
  /** Unicast or multicast, and which group: what reaches the instance at all. */
  listening: ListeningExpectation;
  /** Unicast peers (empty for multicast): which instance a shared VRID's packet is for. */
  peers: readonly string[];
  v3Checksum: V3ChecksumMode;
  /** Our own source address on this socket: a packet from it is our own looped back. */
  ownSource: () => string;
  accept(advert: Advertisement, source: string): void;
  reject(reason: string): void;
}

/** How often a summary of refused packets may be logged, per socket. */
const REJECT_LOG_INTERVAL_MS = 10_000;

/** The last packet an instance accepted, to recognise the same bytes again. */
interface Accepted {
  binding: IntakeBinding;
  payload: Buffer;
  source: string;
  destination: string;
  advert: Advertisement;
}

export class PacketIntake {
  /**
   * Instances by VRID. Usually one; two unicast instances may share a VRID on
   * an interface when their peers differ (keepalived allows it): the sender
   * picks which one a packet is for.
   */
  private readonly byVrid = new Map<number, IntakeBinding[]>();
  /**
   * A steady master sends the same bytes every interval: when a packet equals
   * the last one accepted for its VRID (same bytes, sender, destination, TTL
   * 255), the checks it passed then are not run again.
   */
  private readonly lastAccepted = new Map<number, Accepted>();
  readonly rejected: Record<string, number> = {};
  private sinceLog: Record<string, number> = {};
  private lastLog = 0;
  private lastDetail = '';

  constructor(
    readonly label: string,
    private readonly v3ChecksumForUnbound: V3ChecksumMode,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  bind(vrid: number, binding: IntakeBinding): void {
    const list = (this.byVrid.get(vrid) ?? []).filter((b) => b.name !== binding.name);
    list.push(binding);
    this.byVrid.set(vrid, list);
    this.lastAccepted.delete(vrid);
  }

  handles(vrid: number): boolean {
    return this.byVrid.has(vrid);
  }

  /** The instance a packet from `source` with this VRID is for. */
  private bindingFor(vrid: number, source: string): IntakeBinding | undefined {
    const list = this.byVrid.get(vrid);
    if (!list || list.length === 0) return undefined;
    if (list.length === 1) return list[0];
    return list.find((b) => b.peers.some((p) => sameAddress(p, source))) ?? list.find((b) => b.peers.length === 0) ?? list[0];
  }

  /** The socket's packet handler. */
  handle = (payload: Buffer, meta: VrrpPacketMeta): void => {
    try {
      this.process(payload, meta);
    } catch (err) {
      // A bug of ours, not the sender's: count it and keep running.
      this.count('internal', `${(err as Error).message}`, meta.source);
      this.log.error({ err, source: meta.source }, 'packet handling failed');
    }
  };

  private process(payload: Buffer, meta: VrrpPacketMeta): void {
    // The VRID sits at byte 1 whatever the version: peek at it to pick the
    // instance's checksum mode before the full decode.
    const vrid = payload.length >= 2 ? payload[1]! : -1;
    const binding = this.bindingFor(vrid, meta.source);
    const seen = this.lastAccepted.get(vrid);
    if (binding && seen && seen.binding === binding && meta.ttl === 255 && seen.source === meta.source && seen.destination === meta.destination && seen.payload.equals(payload)) {
      binding.accept(seen.advert, meta.source);
      return;
    }
    const decoded = decodeAdvertisement(payload, meta, { v3Checksum: binding?.v3Checksum ?? this.v3ChecksumForUnbound });
    if (!decoded.ok) {
      binding?.reject(decoded.reason);
      this.count(decoded.reason, decoded.detail, meta.source);
      return;
    }
    if (!binding) {
      this.count('vrid', `VRID ${decoded.advert.vrid} is not configured on ${this.label}`, meta.source);
      return;
    }
    if (sameAddress(meta.source, binding.ownSource())) {
      binding.reject('own_packet');
      this.count('own_packet', 'our own advertisement looped back', meta.source);
      return;
    }
    const listening = checkDestination(meta.destination, binding.listening);
    if (!listening.ok) {
      binding.reject(listening.reason);
      this.count(listening.reason, `${binding.name}: ${listening.detail}`, meta.source);
      return;
    }
    const checked = checkAgainstInstance(decoded.advert, binding.expectation);
    if (!checked.ok) {
      binding.reject(checked.reason);
      this.count(checked.reason, `${binding.name}: ${checked.detail}`, meta.source);
      return;
    }
    // Copied: the socket reuses its receive buffer.
    this.lastAccepted.set(vrid, { binding, payload: Buffer.from(payload), source: meta.source, destination: meta.destination, advert: decoded.advert });
    binding.accept(decoded.advert, meta.source);
  }

  private count(reason: string, detail: string, source: string): void {
    this.rejected[reason] = (this.rejected[reason] ?? 0) + 1;
    this.sinceLog[reason] = (this.sinceLog[reason] ?? 0) + 1;
    this.lastDetail = `${detail} (from ${source})`;
    const now = this.now();
    // The first refusal is logged at once; after that, one summary per interval,
    // so a flood of bad packets cannot flood the log.
    if (this.lastLog === 0 || now - this.lastLog >= REJECT_LOG_INTERVAL_MS) {
      this.log.warn({ socket: this.label, refused: this.sinceLog, last: this.lastDetail, total: this.rejected }, 'packets refused');
      this.sinceLog = {};
      this.lastLog = now;
    }
  }
}
