/**
 * The agent's wire to the arbiters (libs/arbiter protocol.ts), on a NATS
 * connection of its own (the event log's publisher has its own reconnect loop
 * and backlog; the arbiter sees this connection's health as the agent's):
 *
 * - requests (claim, renew, release) on `ha.<cluster>.arb.req`, each answer
 *   handed to its instance's holder with the request id it answers;
 * - orders (offer, orderDemote) on `ha.<cluster>.arb.node.<node>`;
 * - heartbeats on `ha.<cluster>.arb.hb.<node>` every interval and after each
 *   transition: the node is alive, its gateway verdict, each instance's state.
 *
 * Whatever an arbiter sends is parsed with the protocol's schemas; a message
 * that does not parse never reaches a holder: it is counted, and logged once
 * per reason (then at debug level). A malformed answer counts as no answer.
 *
 * The holder owns request timeouts (its own clock, timing.requestTimeoutMs);
 * NATS waits longer, so that a grant arriving late still reaches the holder,
 * which releases it if nobody waits for it any more.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { connect, Events, type NatsConnection, type Subscription } from 'nats';
import { natsConnectOptions } from '../../../libs/events/src/connect.js';
import {
  PROTOCOL_VERSION,
  arbiterReplySchema,
  assertProtocolToken,
  encodeMessage,
  heartbeatSubject,
  nodeOrderSchema,
  nodeSubject,
  parseMessage,
  requestSubject,
  type AgentRequest,
  type Heartbeat,
  type InstanceReport,
} from '../../../libs/arbiter/src/protocol.js';
import type { HolderAction, HolderEvent } from '../../../libs/arbiter/src/holder.js';
import type { Reachability } from '../../../libs/arbiter/src/types.js';
import type { AgentConfig } from '../../../libs/config/src/mod.js';

export type LeaseRequestAction = Extract<HolderAction, { type: 'sendClaim' | 'sendRenew' | 'sendRelease' }>;

/** What the agent sees of the link (agent.ts imports only this type, so mode off never loads nats). */
export interface ArbiterLink {
  /** Answers, orders and the connection's state for `instance` go to `deliver`. */
  register(instance: string, deliver: (event: HolderEvent) => void): void;
  send(instance: string, action: LeaseRequestAction, timeoutMs: number): void;
  /** Heartbeats every `intervalMs` from now on, with what `report` says at the time. */
  start(intervalMs: number, report: () => { gateway: Reachability; instances: InstanceReport[] }): void;
  /** A heartbeat on the next turn of the loop (after a transition), coalesced. */
  reportSoon(): void;
  /** Waits (at most `timeoutMs`) for the answers of requests in flight: the releases of a graceful stop. */
  drain(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
  status(): unknown;
}

const NATS_WAIT_FLOOR_MS = 2000;

export class LeaseClient implements ArbiterLink {
  private nc: NatsConnection | null = null;
  private sub: Subscription | null = null;
  private closed = false;
  private readonly holders = new Map<string, (event: HolderEvent) => void>();
  private readonly inFlight = new Set<Promise<void>>();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private soon = false;
  private report: (() => { gateway: Reachability; instances: InstanceReport[] }) | null = null;
  private intervalMs = 1000;
  readonly bootId = randomUUID();
  /** Messages from arbiters that did not parse, by reason. */
  readonly malformed: Record<string, number> = {};
  readonly counters = { requests: 0, answers: 0, failures: 0, orders: 0, heartbeats: 0, heartbeatErrors: 0 };

  private constructor(
    private readonly cluster: string,
    private readonly node: string,
    private readonly log: Logger,
  ) {}

  /**
   * Starts connecting and returns at once: with NATS down at start the agent
   * runs (its holders hear that no arbiter answers) and connects when it can.
   */
  static open(config: AgentConfig, log: Logger): LeaseClient {
    assertProtocolToken('cluster', config.cluster);
    assertProtocolToken('node id', config.node.id);
    const client = new LeaseClient(config.cluster, config.node.id, log);
    // Requests must fail fast while disconnected (the holder decides), not wait in a buffer.
    const options = { ...natsConnectOptions({ ...config.nats!, name: `ha-agent ${config.node.id} lease` }), waitOnFirstConnect: true, reconnectTimeWait: 250, pingInterval: 2000, maxPingOut: 2 };
    void connect(options).then(
      (nc) => client.connected(nc),
      (err: unknown) => log.error({ err: (err as Error).message }, 'arbiter: cannot connect to NATS'),
    );
    return client;
  }

  register(instance: string, deliver: (event: HolderEvent) => void): void {
    this.holders.set(instance, deliver);
    if (!this.nc) deliver({ type: 'arbiterReachable', reachable: false, detail: 'not connected to NATS yet' });
  }

  private connected(nc: NatsConnection): void {
    if (this.closed) {
      void nc.close();
      return;
    }
    this.nc = nc;
    this.log.info({ server: nc.getServer() }, 'arbiter: connected to NATS');
    this.sub = nc.subscribe(nodeSubject(this.cluster, this.node), { callback: (err, msg) => (err ? this.log.warn({ err: err.message }, 'arbiter: node subscription error') : this.order(msg.data)) });
    this.broadcast({ type: 'arbiterReachable', reachable: true, detail: `connected to ${nc.getServer()}` });
    void this.watch(nc);
    this.heartbeat();
  }

  private async watch(nc: NatsConnection): Promise<void> {
    try {
      for await (const s of nc.status()) {
        if (s.type === Events.Disconnect) this.broadcast({ type: 'arbiterReachable', reachable: false, detail: `NATS disconnected (${String(s.data)})` });
        else if (s.type === Events.Reconnect) {
          this.broadcast({ type: 'arbiterReachable', reachable: true, detail: `NATS reconnected (${String(s.data)})` });
          this.heartbeat();
        }
      }
    } catch {
      /* closed */
    }
    if (!this.closed) this.broadcast({ type: 'arbiterReachable', reachable: false, detail: 'NATS connection closed' });
  }

  private broadcast(event: HolderEvent): void {
    for (const deliver of this.holders.values()) deliver(event);
  }

  send(instance: string, action: LeaseRequestAction, timeoutMs: number): void {
    const deliver = this.holders.get(instance);
    if (!deliver) return;
    const base = { v: PROTOCOL_VERSION as typeof PROTOCOL_VERSION, instance, node: this.node };
    const request: AgentRequest =
      action.type === 'sendClaim' ? { type: 'claim', ...base } : action.type === 'sendRenew' ? { type: 'renew', ...base, epoch: action.epoch } : { type: 'release', ...base, epoch: action.epoch };
    const id = action.requestId;
    const nc = this.nc;
    if (!nc || nc.isClosed()) {
      // Answered on the next turn: the holder's step that sent it must end first.
      setImmediate(() => deliver({ type: 'requestFailed', requestId: id, reason: 'not connected to NATS', definitive: true }));
      return;
    }
    this.counters.requests++;
    const waiting = nc
      .request(requestSubject(this.cluster), encodeMessage(request), { timeout: Math.max(NATS_WAIT_FLOOR_MS, 4 * timeoutMs), noMux: false })
      .then(
        (msg) => {
          const parsed = parseMessage(arbiterReplySchema, msg.data, 'reply');
          if (!parsed.ok) return this.refused(deliver, id, parsed.reason);
          if (parsed.value.instance !== undefined && parsed.value.instance !== instance) {
            return this.refused(deliver, id, `reply: instance: ${parsed.value.instance} answers a request for ${instance}`);
          }
          this.counters.answers++;
          deliver({ type: 'reply', requestId: id, reply: parsed.value });
        },
        (err: unknown) => {
          this.counters.failures++;
          const code = (err as { code?: string }).code;
          const definitive = code !== 'TIMEOUT';
          const reason = code === '503' ? 'no arbiter listens (no responders)' : code === 'TIMEOUT' ? 'no answer from an arbiter' : `NATS: ${(err as Error).message}`;
          deliver({ type: 'requestFailed', requestId: id, reason, definitive });
        },
      );
    const tracked: Promise<void> = waiting.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  private refused(deliver: (event: HolderEvent) => void, id: number, reason: string): void {
    this.countMalformed(reason);
    deliver({ type: 'requestFailed', requestId: id, reason: `malformed answer (${reason})`, definitive: false });
  }

  private countMalformed(reason: string): void {
    const n = (this.malformed[reason] ?? 0) + 1;
    this.malformed[reason] = n;
    if (n === 1) this.log.warn({ reason }, `arbiter: malformed message dropped: ${reason} (further ones with this reason are counted, see SIGUSR1 status)`);
    else this.log.debug({ reason, count: n }, 'arbiter: malformed message dropped');
  }

  private order(data: Uint8Array): void {
    const parsed = parseMessage(nodeOrderSchema, data, 'order');
    if (!parsed.ok) return this.countMalformed(parsed.reason);
    const o = parsed.value;
    const deliver = this.holders.get(o.instance);
    if (!deliver) return this.countMalformed(`order: instance: ${o.instance} is not an instance of this node (or runs in mode off)`);
    this.counters.orders++;
    deliver(o.type === 'offer' ? { type: 'offer', epoch: o.epoch, reason: o.reason, eligible: true } : { type: 'orderDemote', epoch: o.epoch, reason: o.reason });
  }

  start(intervalMs: number, report: () => { gateway: Reachability; instances: InstanceReport[] }): void {
    this.report = report;
    this.intervalMs = Math.round(intervalMs);
    this.heartbeat();
  }

  reportSoon(): void {
    if (this.soon || !this.report) return;
    this.soon = true;
    setImmediate(() => {
      this.soon = false;
      this.heartbeat();
    });
  }

  /** Publishes one heartbeat now and schedules the next a full interval later. */
  private heartbeat(): void {
    if (this.closed || !this.report) return;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = setTimeout(() => this.heartbeat(), this.intervalMs);
    const nc = this.nc;
    if (!nc || nc.isClosed()) return;
    const { gateway, instances } = this.report();
    const hb: Heartbeat = { v: PROTOCOL_VERSION, node: this.node, bootId: this.bootId, intervalMs: this.intervalMs, gateway, instances };
    try {
      nc.publish(heartbeatSubject(this.cluster, this.node), encodeMessage(hb));
      this.counters.heartbeats++;
    } catch (err) {
      this.counters.heartbeatErrors++;
      this.log.debug({ err: (err as Error).message }, 'arbiter: heartbeat not sent');
    }
  }

  async drain(timeoutMs: number): Promise<void> {
    if (this.inFlight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    if (timer) clearTimeout(timer);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = null;
    this.sub?.unsubscribe();
    const nc = this.nc;
    this.nc = null;
    if (nc) await nc.close().catch(() => undefined);
  }

  status(): unknown {
    return { connected: this.nc !== null && !this.nc.isClosed(), bootId: this.bootId, counters: { ...this.counters }, malformed: { ...this.malformed } };
  }
}

/** The link for this configuration, or null when no instance uses the arbiter. */
export function openArbiterLink(config: AgentConfig, anyArbiterInstance: boolean, log: Logger): ArbiterLink | null {
  if (!config.nats || !anyArbiterInstance) return null;
  return LeaseClient.open(config, log.child({ component: 'arbiter' }));
}
