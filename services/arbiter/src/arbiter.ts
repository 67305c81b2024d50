/**
 * The arbiter's shell: one serial decision loop around libs/arbiter's pure
 * decide(). Every request (a claim, renewal or release on NATS, a forced
 * failover from the HTTP API), every fact (a heartbeat, an agent's event, a
 * KV change, a fence result, a ping verdict) and every deadline goes through
 * the queue; each item is handled to the end, synchronously, before the next:
 *
 *   request -> decide(view, request, now) -> recordIssued -> execute actions
 *   fact    -> fold into the view -> reconcile the instances it touches
 *
 * Actions run in the order decide() gave them:
 * - writeLease: a compare-and-set in HA_LEASES (lease-store.ts); the request's
 *   reply inbox travels with the write, and the write's result comes back
 *   through the queue as a `writeResult` request, so the answer to a claim
 *   goes out after its write and never before. A replica that loses a CAS
 *   folds the entry it lost to and decides the original request again.
 * - grant / renewed / released / veto / refuse: the reply on the request's inbox.
 * - offer / orderDemote: published on the node's subject.
 * - fence: libs/fencing, its result folded with recordFenceResult and published
 *   as fence.result, then the instances are reconciled.
 * - event: published (events.ts).
 *
 * The view is rebuilt from the KV (its watch) and the heartbeats at start;
 * until `heartbeats.warmupMs` has passed the replica listens but neither
 * answers requests (the queue group's other replicas do) nor reconciles, so a
 * live holder is never judged gone for want of a first heartbeat.
 */
import type { Msg, NatsConnection, Subscription } from 'nats';
import type { Logger } from '../../../libs/common/src/log.js';
import { monotonicMs } from '../../../libs/common/src/clock.js';
import { decide, leaseKey, nextDeadline } from '../../../libs/arbiter/src/decide.js';
import {
  copyView,
  isOwnedView,
  ownView,
  recordArbiterGateway,
  recordFenceResult,
  recordHeard,
  recordIssued,
  recordLease,
  recordNodeGateway,
  recordTimingReport,
  recordWritePath,
  recordWriteResult,
} from '../../../libs/arbiter/src/view.js';
import { leaseTimingMismatch } from '../../../libs/arbiter/src/timing.js';
import {
  agentRequestSchema,
  ARBITER_QUEUE,
  encodeMessage,
  heartbeatSchema,
  heartbeatWildcard,
  type Heartbeat,
  nodeSubject,
  parseMessage,
  PROTOCOL_VERSION,
  requestSubject,
  type ArbiterReply,
  type NodeOrder,
} from '../../../libs/arbiter/src/protocol.js';
import type {
  ArbiterAction,
  ArbiterRequest,
  ArbiterView,
  Decision,
  FenceNodeAction,
  InstanceView,
  LeaseEntry,
  Reachability,
  WriteLeaseAction,
} from '../../../libs/arbiter/src/types.js';
import { decodeEvent } from '../../../libs/events/src/mod.js';
import type { Fencer, FenceResult } from '../../../libs/fencing/src/mod.js';
import type { ArbiterConfig } from './config.js';
import { clip, type ArbiterEvents } from './events.js';
import type { Fencers } from './fencers.js';
import type { LeaseStore, WriteResult } from './lease-store.js';
import { InboxLiveness, type LivenessOptions } from './liveness.js';
import { Membership } from './membership.js';
import { applyReplay, type ReplayState } from './replay.js';

/** How many times a request is decided again after losing a compare-and-set. */
const MAX_CAS_RETRIES = 3;

/** Where a request came from and where its answer goes. */
interface Origin {
  readonly request: ArbiterRequest;
  /** The request's reply inbox (NATS), when it has one. */
  readonly reply?: (answer: ArbiterReply) => void;
  /** Called with the request's final decision (after its write, if it made one). */
  readonly onFinal?: (d: Decision) => void;
  attempts: number;
  replied: boolean;
}

type Item =
  | { kind: 'request'; origin: Origin }
  | { kind: 'writeResult'; write: WriteLeaseAction; result: WriteResult; origin: Origin }
  | { kind: 'fact'; what: string; apply: (view: ArbiterView, now: number) => { view: ArbiterView; reconcile: readonly string[]; requests?: readonly ArbiterRequest[] } };

export interface ArbiterDeps {
  readonly config: ArbiterConfig;
  readonly nc: NatsConnection;
  readonly store: LeaseStore;
  readonly events: ArbiterEvents;
  readonly fencers: Fencers;
  readonly log: Logger;
  /** Wall clock, epoch ms (decide's time, see libs/arbiter types.ts). */
  readonly now?: () => number;
  /** The event stream folded at start (replay.ts): members and fences before the first heartbeat. */
  readonly replay?: ReplayState;
}

export interface ManualFenceResult {
  readonly node: string;
  readonly ok: boolean;
  readonly confirmed: boolean;
  readonly reason: string;
}

export class Arbiter {
  readonly config: ArbiterConfig;
  private view: ArbiterView;
  private readonly nc: NatsConnection;
  private readonly store: LeaseStore;
  private readonly events: ArbiterEvents;
  private readonly fencers: Fencers;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly membership: Membership;
  private readonly subjectPrefixLength: number;

  private readonly queue: Item[] = [];
  private draining = false;
  private ready = false;
  private stopping = false;
  private readonly subs: Subscription[] = [];
  private requestSub: Subscription | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly deadlines = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly fenceAbort = new AbortController();
  private readonly runningFences = new Set<string>();
  private readonly unknownReported = new Set<string>();
  private probing = false;
  /** Out of the queue group because the write path is down (syncAnswering). */
  private answeringPaused = false;
  /** Monotonic ms of the last NATS reconnect: heartbeats are listened to for the warm-up before the write path counts again. */
  private reconnectedAt: number | null = null;
  private readonly readyWaiters: (() => void)[] = [];
  /**
   * Agents' requests that came while a lease write of their instance was in
   * flight: decided once its result is in (every write resolves within
   * leases.writeTimeoutMs). Deciding them at once could only veto "a write is
   * in flight", and that write is often the very grant the node is claiming
   * (an offer and the node's claim cross, or another replica's offer is
   * claimed here while this replica's losing write is still out).
   */
  private readonly deferred = new Map<string, Origin[]>();
  private readonly counters = { requests: 0, malformed: 0, decisions: 0, writes: 0, conflicts: 0, fences: 0 };
  /** Fences in progress when the stream was last folded (replay.ts): taken up again once ready. */
  private resumable: FenceNodeAction[] = [];
  /** Holders' NATS connections, probed between heartbeats (liveness.ts); null when off. */
  private liveness: InboxLiveness | null = null;

  private constructor(deps: ArbiterDeps) {
    this.config = deps.config;
    this.nc = deps.nc;
    this.store = deps.store;
    this.events = deps.events;
    this.fencers = deps.fencers;
    this.log = deps.log;
    this.now = deps.now ?? Date.now;
    const instances: Record<string, InstanceView> = {};
    const allowed = new Map<string, ReadonlySet<string> | undefined>();
    for (const i of deps.config.instances) {
      instances[i.name] = { policy: i.policy, lease: null, members: {} };
      allowed.set(i.name, i.members ? new Set(i.members) : undefined);
    }
    this.view = {
      cluster: deps.config.cluster,
      writePath: { available: true },
      gateway: 'unknown',
      nodes: {},
      instances,
    };
    this.membership = new Membership(deps.config.heartbeats.missed, allowed);
    if (deps.replay) {
      const r = applyReplay(this.view, deps.replay, allowed);
      this.view = r.view;
      const mono = monotonicMs();
      for (const s of r.seeds) this.membership.seed(s.node, s.bootId, s.instances, mono, deps.config.heartbeats.warmupMs);
      this.resumable = [...r.resume];
    }
    // Owned: every fold changes this one view in place (view.ts); snapshot() hands out copies.
    this.view = ownView(this.view);
    this.subjectPrefixLength = `ha.${deps.config.cluster}.evt.`.length;
  }

  /**
   * Starts listening: the lease watch, heartbeats and agents' events at once;
   * requests and reconciles after the warm-up. Resolves once listening.
   */
  static async start(deps: ArbiterDeps): Promise<Arbiter> {
    const a = new Arbiter(deps);
    await a.listen();
    return a;
  }

  /** Resolves when the replica answers requests. */
  whenReady(): Promise<void> {
    return this.ready ? Promise.resolve() : new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  get isReady(): boolean {
    return this.ready;
  }

  /** The view as it is now: a copy that later folds leave alone (the replica's own view changes in place). */
  snapshot(): ArbiterView {
    return copyView(this.view);
  }

  stats(): Readonly<typeof this.counters> {
    return { ...this.counters };
  }

  /** What the connection probes (liveness.ts) know of each holder's agent; empty when they are off. */
  agentConnections(): Record<string, 'unverified' | 'open' | 'closing' | 'gone'> {
    return this.liveness?.states() ?? {};
  }

  knowsInstance(name: string): boolean {
    return name in this.view.instances;
  }

  fencerFor(node: string): Fencer | undefined {
    return this.fencers.for(node);
  }

  // -------------------------------------------------------------------------
  // Inputs

  private async listen(): Promise<void> {
    const cluster = this.config.cluster;
    const { config } = this;
    // The KV first: the leases are what a restarted replica must know before anything else.
    const initialized = new Promise<void>((resolve) => {
      this.store.watch(
        (instance, entry) => this.fact(`lease ${instance}`, (v) => this.foldLease(v, instance, entry)),
        () => resolve(),
      );
    });
    const initialTimer = new Promise<void>((resolve) => this.later(resolve, 5000));
    await Promise.race([initialized, initialTimer]);
    // The watch's "initialized" can be missed when the stream moves under it: read every key as well.
    try {
      for (const [instance, entry] of await this.store.readAll()) this.fact(`lease ${instance}`, (v) => this.foldLease(v, instance, entry));
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'reading the leases at start failed; the watch will bring them');
    }

    this.subs.push(
      this.nc.subscribe(heartbeatWildcard(cluster), {
        callback: (err, msg) => {
          if (err) return;
          this.onHeartbeat(msg);
        },
      }),
    );
    for (const type of ['vrrp.transition', 'vip.added', 'vip.removed']) {
      this.subs.push(
        this.nc.subscribe(`ha.${cluster}.evt.*.${type}`, {
          callback: (err, msg) => {
            if (err) return;
            this.onAgentEvent(msg);
          },
        }),
      );
    }
    this.watchConnection();
    this.startLiveness();
    const sweepEvery = 100;
    const sweep = setInterval(() => this.fact('heartbeat sweep', (v, now) => this.foldSweep(v, now)), sweepEvery);
    sweep.unref();
    this.timers.add(sweep as unknown as NodeJS.Timeout);

    this.later(() => this.becomeReady(), config.heartbeats.warmupMs);
  }

  /**
   * In the queue group only while the write path is available: a replica that
   * cannot write would only refuse renewals and make claimants wait, while
   * another replica of the group may be able to grant (after NATS returned, the
   * replicas' write paths come back seconds apart). With none in the group the
   * agents see "no responders": no arbiter answers, and failsafe applies.
   */
  private syncAnswering(): void {
    const want = this.ready && !this.stopping && this.view.writePath.available;
    if (want && !this.requestSub) {
      this.requestSub = this.nc.subscribe(requestSubject(this.config.cluster), {
        queue: ARBITER_QUEUE,
        callback: (err, msg) => {
          if (err) return;
          this.onRequest(msg);
        },
      });
      if (this.answeringPaused) this.log.info({}, 'write path available: answering requests again');
      this.answeringPaused = false;
    } else if (!want && this.requestSub && !this.stopping) {
      this.requestSub.unsubscribe();
      this.requestSub = null;
      this.answeringPaused = true;
      this.log.warn({ detail: this.view.writePath.detail }, 'write path unavailable: left the queue group until it is back');
    }
  }

  private becomeReady(): void {
    if (this.stopping || this.ready) return;
    this.ready = true;
    this.syncAnswering();
    this.log.info({ instances: Object.keys(this.view.instances).length, nodes: Object.keys(this.view.nodes).length }, 'arbiter ready: answering requests');
    this.resumeFences();
    for (const name of Object.keys(this.view.instances)) this.enqueue({ kind: 'request', origin: internal({ type: 'reconcile', instance: name }) });
    for (const w of this.readyWaiters.splice(0)) w();
  }

  /**
   * A fence the stream shows in progress (its replica stopped before the
   * result) is run again with the same idempotency key, as long as the view
   * still has it in progress (the node has not heartbeated since) and the lease
   * still names the node at that epoch; its result is folded as any other.
   */
  private resumeFences(): void {
    for (const a of this.resumable.splice(0)) {
      const f = this.view.nodes[a.node]?.fence;
      const lv = this.view.instances[a.instance]?.lease?.value;
      const names = lv && ((lv.holder === a.node && lv.epoch === a.epoch) || (lv.outgoing?.node === a.node && lv.outgoing?.epoch === a.epoch));
      if (f?.status !== 'inProgress' || f.attempt !== a.attempt || !names) continue;
      this.log.warn({ node: a.node, instance: a.instance, epoch: a.epoch, attempt: a.attempt }, 'taking up a fence left in progress (event stream)');
      this.fenceIfStillCurrent(a);
    }
  }

  private onRequest(msg: Msg): void {
    this.counters.requests++;
    const reply = msg.reply
      ? (answer: ArbiterReply) => {
          try {
            msg.respond(encodeMessage(answer));
          } catch (e) {
            this.log.warn({ err: (e as Error).message }, 'reply not sent');
          }
        }
      : undefined;
    const parsed = parseMessage(agentRequestSchema, msg.data, 'request');
    if (!parsed.ok) {
      this.counters.malformed++;
      this.log.warn({ reason: parsed.reason, subject: msg.subject }, 'malformed request refused');
      reply?.({ type: 'refuse', v: PROTOCOL_VERSION, reason: clip(parsed.reason) });
      return;
    }
    const r = parsed.value;
    this.liveness?.learn(r.node, msg.reply);
    if (!this.knowsInstance(r.instance)) {
      const reason = `request: instance: unknown instance '${r.instance}' in cluster ${this.config.cluster}`;
      this.log.warn({ node: r.node, instance: r.instance }, reason);
      reply?.({ type: 'refuse', v: PROTOCOL_VERSION, instance: r.instance, reason });
      return;
    }
    const request: ArbiterRequest =
      r.type === 'claim' ? { type: 'claim', instance: r.instance, node: r.node } : { type: r.type, instance: r.instance, node: r.node, epoch: r.epoch };
    this.enqueue({ kind: 'request', origin: { request, ...(reply ? { reply } : {}), attempts: 0, replied: false } });
  }

  private onHeartbeat(msg: Msg): void {
    const parsed = parseMessage(heartbeatSchema, msg.data, 'heartbeat');
    const subjectNode = msg.subject.split('.').pop() ?? '';
    if (!parsed.ok) {
      this.log.warn({ subject: msg.subject, reason: parsed.reason }, 'heartbeat ignored');
      return;
    }
    const hb = parsed.value;
    if (hb.node !== subjectNode) {
      this.log.warn({ subject: msg.subject, node: hb.node }, 'heartbeat ignored: its node is not its subject\'s');
      return;
    }
    // Before the fold: the inbox of another (dead) process of the node is probed no more.
    this.liveness?.heartbeat(hb.node, hb.bootId);
    const mono = monotonicMs();
    this.fact(`heartbeat ${hb.node}`, (v, now) => {
      const folded = this.membership.heartbeat(v, hb, mono, now);
      const f = { ...folded, view: this.foldTimings(heardAfterExpiry(folded.view, hb, now), hb) };
      for (const i of f.unknown) {
        if (this.unknownReported.has(`${hb.node}/${i}`)) continue;
        this.unknownReported.add(`${hb.node}/${i}`);
        this.log.warn({ node: hb.node, instance: i }, 'heartbeat reports an instance this arbiter does not arbitrate');
      }
      if (f.connected) {
        this.log.info({ node: hb.node, bootId: hb.bootId }, 'node connected');
        // Connected again: what the probes learnt before is re-learnt from its next request.
        this.liveness?.forget(hb.node);
      }
      return { view: f.view, reconcile: f.connected ? this.instancesOf(f.view, hb.node, f.changed) : f.changed };
    });
  }

  /** The lease timing each instance of a heartbeat reports, against this arbiter's: a change is logged and published once. */
  private foldTimings(view: ArbiterView, hb: Heartbeat): ArbiterView {
    let v = view;
    for (const r of hb.instances) {
      const inst = v.instances[r.instance];
      if (!inst || !r.timing || !(hb.node in inst.members)) continue;
      const mismatch = leaseTimingMismatch(r.timing, inst.policy.timing);
      const before = inst.timingMismatch?.[hb.node] ?? null;
      if (mismatch === before) continue;
      v = recordTimingReport(v, r.instance, hb.node, mismatch);
      if (mismatch) {
        const reason = `${hb.node}'s lease timing for ${r.instance} disagrees with the arbiter's: ${mismatch}; its claims are refused`;
        this.log.warn({ node: hb.node, instance: r.instance, agentTiming: r.timing, arbiterTiming: inst.policy.timing }, reason);
        this.events.decision({ type: 'event', name: 'lease.refused', instance: r.instance, node: hb.node, reason, data: { timingMismatch: true } });
      } else {
        this.log.info({ node: hb.node, instance: r.instance }, 'lease timing of the node agrees with the arbiter\'s again');
      }
    }
    return v;
  }

  private onAgentEvent(msg: Msg): void {
    const d = decodeEvent(msg.data, { subject: msg.subject });
    if (!d.ok || d.event.cluster !== this.config.cluster) return;
    const e = d.event;
    this.fact(`event ${msg.subject.slice(this.subjectPrefixLength)}`, (v) => {
      const f = this.membership.event(v, e);
      return { view: f.view, reconcile: f.changed ? [f.changed] : [] };
    });
  }

  /** NATS away: the write path is gone until the bucket answers again. */
  private watchConnection(): void {
    void (async () => {
      for await (const s of this.nc.status()) {
        if (this.stopping) return;
        if (s.type === 'disconnect') {
          this.reconnectedAt = null;
          this.fact('nats disconnected', (v) => ({ view: recordWritePath(v, { available: false, detail: 'the NATS connection is lost' }), reconcile: [] }));
        } else if (s.type === 'reconnect') {
          // The servers may have restarted: the KV watch starts over, and the nodes we
          // could not hear meanwhile get the warm-up again before anyone is judged.
          this.reconnectedAt = monotonicMs();
          this.log.info({ server: s.data }, 'NATS reconnected: watching the leases again, listening to heartbeats before judging anyone');
          this.store.restartWatch();
          this.startProbing();
        }
      }
    })().catch(() => undefined);
  }

  /** A ping verdict (gateway-ping.ts). */
  gatewayVerdict(node: string | null, verdict: Reachability, detail: string): void {
    this.log.info({ node: node ?? '(arbiter gateway)', verdict, detail }, 'ping verdict');
    this.fact(`ping ${node ?? 'gateway'}`, (v) => {
      if (node === null) return { view: recordArbiterGateway(v, verdict), reconcile: Object.keys(v.instances) };
      return { view: recordNodeGateway(v, node, 'reachableFromArbiter', verdict), reconcile: this.instancesOf(v, node, []) };
    });
  }

  /** `hactl failover`: resolves with the final decision (after the revoke's write, when there is one). */
  failover(instance: string, to: string | undefined, by: string): Promise<Decision> {
    return new Promise((resolve) => {
      const request: ArbiterRequest = { type: 'failover', instance, by, ...(to !== undefined ? { to } : {}) };
      this.enqueue({ kind: 'request', origin: { request, onFinal: resolve, attempts: 0, replied: false } });
    });
  }

  /** `hactl fence NODE`: an operator's fence; a confirmed one counts for whatever lease the node holds. */
  fenceNode(node: string, by: string): Promise<ManualFenceResult> {
    return new Promise((resolve) => {
      this.fact(`manual fence ${node}`, (v, now) => {
        const attempt = (v.nodes[node]?.fence?.attempt ?? 0) + 1;
        const reason = `manual fence of ${node} by ${by}`;
        const action: FenceNodeAction = {
          type: 'fence',
          node,
          instance: '',
          epoch: 0,
          attempt,
          idempotencyKey: `${this.config.cluster}:manual:${node}:${now}`,
          reason,
        };
        this.events.publish('fence.requested', { reason, subject: node, facts: { by, manual: true } });
        const issued = recordIssued(v, [action], now);
        this.runFence(action, (r) => resolve({ node, ok: r.ok, confirmed: r.confirmed, reason: r.reason }));
        return { view: issued, reconcile: [] };
      });
    });
  }

  // -------------------------------------------------------------------------
  // The loop

  private fact(what: string, apply: Extract<Item, { kind: 'fact' }>['apply']): void {
    this.enqueue({ kind: 'fact', what, apply });
  }

  private enqueue(item: Item): void {
    if (this.stopping && item.kind !== 'writeResult') {
      if (item.kind === 'request') this.finishUnanswered(item.origin, 'the arbiter replica is stopping; ask again');
      return;
    }
    this.queue.push(item);
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const next = this.queue.shift()!;
        try {
          this.handle(next);
        } catch (e) {
          // A bug must not take the loop down with it; the item is dropped and logged.
          this.log.error({ err: (e as Error).stack ?? String(e), item: next.kind }, 'arbiter loop: item failed');
          if (next.kind !== 'fact') this.finishUnanswered(next.origin, 'internal error in the arbiter; ask again');
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private handle(item: Item): void {
    const now = this.now();
    switch (item.kind) {
      case 'request':
        if (!this.ready) {
          const r = item.origin.request;
          const timing = 'instance' in r ? this.view.instances[r.instance]?.policy.timing : undefined;
          const why = `the arbiter replica ${this.config.replica} is warming up (listening to heartbeats before it judges anyone); ask again`;
          if (timing && 'instance' in r && r.type === 'claim') {
            // Not a verdict: a failsafe holder serving without a lease must not take it for a veto.
            this.send(item.origin, { type: 'wait', v: PROTOCOL_VERSION, instance: r.instance, reason: why, retryAfterMs: timing.requestTimeoutMs });
            item.origin.onFinal?.({ decision: 'wait', reason: why, actions: [] });
          } else {
            this.finishUnanswered(item.origin, why);
          }
          return;
        }
        if (this.deferWhileWriting(item.origin)) return;
        this.decideAndRun(item.origin.request, item.origin, now);
        return;
      case 'writeResult':
        this.onWriteResult(item.write, item.result, item.origin, now);
        this.syncAnswering();
        this.releaseDeferred(item.write.instance);
        return;
      case 'fact': {
        const r = item.apply(this.view, now);
        this.adopt(r.view);
        this.syncAnswering();
        if (!this.ready) return;
        for (const req of r.requests ?? []) this.decideAndRun(req, internal(req), now);
        for (const name of new Set(r.reconcile)) this.decideAndRun({ type: 'reconcile', instance: name }, internal({ type: 'reconcile', instance: name }), now);
        return;
      }
    }
  }

  /**
   * The folds return the owned view itself; a fold that built a plain view
   * instead (a spread somewhere) is taken over with one copy rather than
   * leaving the replica on a view whose every later fold copies.
   */
  private adopt(v: ArbiterView): void {
    if (v === this.view) return;
    if (!isOwnedView(v)) this.log.debug({}, 'a fold returned a plain view: owned again (one copy)');
    this.view = isOwnedView(v) ? v : ownView(v);
  }

  /** An agent's claim, renewal or release waits for the instance's write in flight (see `deferred`). */
  private deferWhileWriting(origin: Origin): boolean {
    const r = origin.request;
    // An operator's forced failover too: refusing it with "a write is in flight; ask again" only
    // because a renewal was being written (every renewIntervalMs) is noise.
    const agent = origin.reply !== undefined && (r.type === 'claim' || r.type === 'renew' || r.type === 'release');
    const operator = origin.onFinal !== undefined && r.type === 'failover';
    if ((!agent && !operator) || !('instance' in r)) return false;
    if (!this.view.instances[r.instance]?.pendingWrite) return false;
    const list = this.deferred.get(r.instance) ?? [];
    list.push(origin);
    this.deferred.set(r.instance, list);
    this.log.debug({ request: r.type, instance: r.instance, node: 'node' in r ? r.node : undefined }, 'request waits for the lease write in flight');
    return true;
  }

  private releaseDeferred(instance: string): void {
    const list = this.deferred.get(instance);
    if (!list || this.view.instances[instance]?.pendingWrite) return;
    this.deferred.delete(instance);
    for (const origin of list) this.enqueue({ kind: 'request', origin });
  }

  private decideAndRun(request: ArbiterRequest, origin: Origin, now: number): void {
    const d = decide(this.view, request, now);
    this.counters.decisions++;
    this.logDecision(request, d);
    this.adopt(recordIssued(this.view, d.actions, now));
    this.execute(d, origin, now);
    this.armDeadline(request.type === 'writeResult' ? request.write.instance : request.instance, d, now);
  }

  private onWriteResult(write: WriteLeaseAction, result: WriteResult, origin: Origin, now: number): void {
    const { outcome } = result;
    let v = this.view;
    // Read back from the stream leader after a lost compare-and-set: what the next write must name.
    if (result.current !== undefined) v = recordLease(v, write.instance, result.current, true);
    v = recordWriteResult(v, write, outcome);
    if (outcome.ok) {
      if (!v.writePath.available) v = recordWritePath(v, { available: true });
    } else if (outcome.error !== 'conflict') {
      v = recordWritePath(v, { available: false, detail: `${outcome.error}${outcome.detail ? `: ${outcome.detail}` : ''}` });
      this.startProbing();
    }
    this.adopt(v);
    if (!outcome.ok && outcome.error === 'conflict') {
      this.counters.conflicts++;
      if (origin.attempts < MAX_CAS_RETRIES && origin.request.type !== 'writeResult') {
        // Lost the race: the view now holds the entry that won; decide the same request again on it.
        origin.attempts++;
        this.log.info({ instance: write.instance, expected: write.expectedRevision, current: outcome.currentRevision, request: origin.request.type, attempt: origin.attempts }, 'compare-and-set lost; deciding again');
        this.decideAndRun(origin.request, origin, now);
        return;
      }
    }
    this.decideAndRun({ type: 'writeResult', write, outcome }, origin, now);
  }

  private execute(d: Decision, origin: Origin, now: number): void {
    let writing = false;
    for (const a of d.actions) {
      switch (a.type) {
        case 'writeLease':
          writing = true;
          this.write(a, origin);
          break;
        case 'fence':
          this.fenceIfStillCurrent(a);
          break;
        case 'grant':
        case 'renewed':
        case 'released':
        case 'veto':
        case 'refuse':
          this.answer(a, origin, now);
          break;
        case 'offer':
        case 'orderDemote':
          this.order(a);
          break;
        case 'event':
          this.events.decision(a);
          break;
      }
    }
    if (writing) return;
    if (origin.reply && !origin.replied) {
      // decide() answered with something else (an order to demote, a wait): the inbox still gets an answer.
      const instance = 'instance' in origin.request ? origin.request.instance : undefined;
      if ((d.decision === 'wait' || d.decision === 'fenceFirst') && instance) {
        const retryAfterMs = this.view.instances[instance]?.policy.timing.requestTimeoutMs ?? 250;
        this.send(origin, { type: 'wait', v: PROTOCOL_VERSION, instance, reason: clip(d.reason), retryAfterMs });
      } else {
        this.send(origin, { type: 'refuse', v: PROTOCOL_VERSION, ...(instance ? { instance } : {}), reason: clip(d.reason) });
      }
    }
    origin.onFinal?.(d);
  }

  private send(origin: Origin, answer: ArbiterReply): void {
    if (!origin.reply || origin.replied) return;
    origin.replied = true;
    origin.reply(answer);
    this.events.replied?.(origin.request, answer);
  }

  private answer(a: Extract<ArbiterAction, { type: 'grant' | 'renewed' | 'released' | 'veto' | 'refuse' }>, origin: Origin, now: number): void {
    const r = origin.request;
    const mine = 'node' in r && r.node === a.node && r.instance === a.instance;
    if (!mine || !origin.reply || origin.replied) {
      this.log.debug({ action: a.type, node: a.node, instance: a.instance }, 'answer without an inbox to go to');
      return;
    }
    const v = PROTOCOL_VERSION;
    switch (a.type) {
      case 'grant':
        this.send(origin, { type: 'grant', v, instance: a.instance, epoch: a.epoch, validForMs: Math.max(0, Math.floor(a.expiresAt - now)), reason: clip(a.reason) });
        return;
      case 'renewed':
        this.send(origin, { type: 'renewed', v, instance: a.instance, epoch: a.epoch, validForMs: Math.max(0, Math.floor(a.expiresAt - now)) });
        return;
      case 'released':
        this.send(origin, { type: 'released', v, instance: a.instance, epoch: a.epoch });
        return;
      case 'veto':
        this.send(origin, { type: 'veto', v, instance: a.instance, reason: clip(a.reason), ...(a.retryAfterMs !== undefined ? { retryAfterMs: Math.max(0, Math.round(a.retryAfterMs)) } : {}) });
        return;
      case 'refuse':
        this.send(origin, { type: 'refuse', v, instance: a.instance, reason: clip(a.reason) });
        return;
    }
  }

  private order(a: Extract<ArbiterAction, { type: 'offer' | 'orderDemote' }>): void {
    const msg: NodeOrder = { type: a.type, v: PROTOCOL_VERSION, instance: a.instance, epoch: a.epoch, reason: clip(a.reason) };
    try {
      this.nc.publish(nodeSubject(this.config.cluster, a.node), encodeMessage(msg));
    } catch (e) {
      this.log.warn({ err: (e as Error).message, node: a.node, order: a.type }, 'order not published');
    }
  }

  private write(w: WriteLeaseAction, origin: Origin): void {
    this.counters.writes++;
    const p = this.store.write(w).then((result) => this.enqueue({ kind: 'writeResult', write: w, result, origin }));
    this.track(p);
  }

  /**
   * A fence decided on this replica's view runs only if the KV still has the
   * lease at the revision the view has: the view follows the KV through a
   * watch, and a watch that lags (after NATS came back, while the stream has
   * no leader) would make a holder renewing through another replica look
   * silent. A newer revision is folded and the instance decided again; a read
   * that fails defers the fence (recorded as not run, so it is asked again).
   */
  private fenceIfStillCurrent(a: FenceNodeAction): void {
    if (!a.instance || !(a.instance in this.view.instances)) {
      this.runFence(a);
      return;
    }
    const seen = this.view.instances[a.instance]?.lease?.revision ?? 0;
    const notRun = (detail: string, entry?: LeaseEntry | null): void => {
      this.log.warn({ node: a.node, instance: a.instance, epoch: a.epoch, seenRevision: seen, detail }, 'fence not run');
      this.fact(`fence not run ${a.node}`, (v, now) => {
        let next = entry !== undefined ? recordLease(v, a.instance, entry) : v;
        if (next.nodes[a.node]?.fence?.status === 'inProgress') next = recordFenceResult(next, a.node, false, now, `not run: ${detail}`);
        // A newer lease is decided on at once; a failed read waits for the instance's next deadline.
        return { view: next, reconcile: entry !== undefined ? [a.instance] : [] };
      });
    };
    const p = this.store.read(leaseKey(this.config.cluster, a.instance)).then(
      (entry) => {
        const current = entry?.revision ?? 0;
        if (current === seen) this.runFence(a);
        else notRun(`the lease moved on in the KV (revision ${current}, this replica had ${seen})`, entry);
      },
      (e: unknown) => notRun(`the lease could not be read to confirm it is still at revision ${seen} (${(e as Error).message})`),
    );
    this.track(p);
  }

  private runFence(a: FenceNodeAction, then?: (r: FenceResult) => void): void {
    const fencer = this.fencers.for(a.node);
    const started = this.now();
    const finish = (r: FenceResult): void => {
      this.runningFences.delete(a.node);
      const confirmed = r.ok && r.confirmed;
      this.events.publish(
        'fence.result',
        {
          subject: a.node,
          epoch: a.epoch,
          attempt: a.attempt,
          backend: r.backend,
          ok: r.ok,
          confirmed: r.confirmed,
          durationMs: Math.max(0, r.durationMs),
          idempotencyKey: clip(a.idempotencyKey, 256),
          ...(r.code ? { detail: r.code } : {}),
          reason: clip(r.reason),
        },
        a.instance || undefined,
      );
      this.log[confirmed ? 'info' : 'warn']({ node: a.node, instance: a.instance || undefined, epoch: a.epoch, ok: r.ok, confirmed: r.confirmed, reason: r.reason }, 'fence result');
      this.fact(`fence result ${a.node}`, (v, now) => ({
        view: recordFenceResult(v, a.node, confirmed, now, confirmed ? undefined : r.reason),
        reconcile: Object.keys(v.instances),
      }));
      then?.(r);
    };
    if (!fencer) {
      finish({ ok: false, confirmed: false, attempts: 0, reason: `no fencing backend configured for node ${a.node}`, durationMs: 0, backend: 'webhook', action: 'off', node: a.node, code: 'KQ_ERR_FENCE_CONFIG' });
      return;
    }
    if (this.runningFences.has(a.node)) {
      this.log.info({ node: a.node }, 'a fence of this node is already running on this replica');
      return;
    }
    this.runningFences.add(a.node);
    this.counters.fences++;
    this.log.warn({ node: a.node, instance: a.instance || undefined, epoch: a.epoch, attempt: a.attempt, backend: fencer.description, reason: a.reason }, 'fencing');
    const p = fencer
      .fence(
        {
          action: 'off',
          node: a.node,
          cluster: this.config.cluster,
          ...(a.instance ? { instance: a.instance, epoch: a.epoch } : {}),
          reason: clip(a.reason),
          idempotencyKey: a.idempotencyKey,
        },
        {
          signal: this.fenceAbort.signal,
          onAttempt: (at) => this.log.info({ node: a.node, attempt: at.attempt, kind: at.kind, status: at.status, outcome: at.outcome, error: at.error }, 'fence attempt'),
        },
      )
      .then(finish, (e: unknown) =>
        finish({ ok: false, confirmed: false, attempts: 0, reason: `fencer failed: ${(e as Error).message}`, durationMs: this.now() - started, backend: fencer.backend, action: 'off', node: a.node }),
      );
    this.track(p);
  }

  // -------------------------------------------------------------------------
  // Folds

  private foldLease(v: ArbiterView, instance: string, entry: LeaseEntry | null): { view: ArbiterView; reconcile: string[] } {
    if (!(instance in v.instances)) return { view: v, reconcile: [] };
    const before = v.instances[instance]?.lease?.revision ?? 0;
    const next = recordLease(v, instance, entry);
    const after = next.instances[instance]?.lease?.revision ?? 0;
    if (after !== before) this.armDeadline(instance, null, this.now(), next);
    // Another replica's write: no reconcile here (that replica moves its own work on); the deadline covers time.
    return { view: next, reconcile: [] };
  }

  private foldSweep(v: ArbiterView, now: number): { view: ArbiterView; reconcile: string[]; requests: ArbiterRequest[] } {
    if (!this.ready) return { view: v, reconcile: [], requests: [] };
    const s = this.membership.sweep(v, monotonicMs(), now);
    const requests: ArbiterRequest[] = [];
    for (const node of s.gone) {
      this.log.warn({ node, missed: this.config.heartbeats.missed }, 'node gone: heartbeats stopped');
      for (const [name, inst] of Object.entries(s.view.instances)) {
        const lv = inst.lease?.value;
        if (lv && (lv.holder === node || lv.outgoing?.node === node)) requests.push({ type: 'nodeGone', instance: name, node });
      }
    }
    const reconcile = s.gone.length > 0 ? Object.keys(s.view.instances) : s.changed;
    return { view: s.view, reconcile, requests };
  }

  /**
   * The fast path for an agent that died while its host stays up (liveness.ts):
   * the holders of instances with fencing on are probed, and a closed
   * connection makes the node gone at once, as missed heartbeats would later.
   */
  private startLiveness(): void {
    const opts: LivenessOptions = this.config.liveness;
    if (opts.probeMs <= 0) return;
    this.liveness = new InboxLiveness(
      this.nc,
      opts,
      () => this.watchedHolders(),
      (node, detail, incarnation) =>
        this.fact(`agent gone ${node}`, (v, now) =>
          // A heartbeat since the verdict (the same process or a new one) withdrew it.
          this.liveness?.stillGone(node, incarnation) === true ? this.foldAgentGone(v, node, detail, now) : { view: v, reconcile: [], requests: [] },
        ),
      this.log,
    );
  }

  /** Incumbents (holders, a forced failover's outgoing holder) of instances where fencing is on. */
  private watchedHolders(): Set<string> {
    const out = new Set<string>();
    for (const inst of Object.values(this.view.instances)) {
      if (inst.policy.fencing === 'off' || inst.policy.mode === 'off') continue;
      const lv = inst.lease?.value;
      if (!lv) continue;
      if (lv.holder !== null && lv.offered !== true) out.add(lv.holder);
      if (lv.outgoing) out.add(lv.outgoing.node);
    }
    return out;
  }

  private foldAgentGone(v: ArbiterView, node: string, detail: string, now: number): { view: ArbiterView; reconcile: string[]; requests: ArbiterRequest[] } {
    const g = this.membership.gone(v, node, now);
    if (g.already) return { view: v, reconcile: [], requests: [] };
    this.log.warn({ node, detail }, 'node gone: its agent\'s NATS connection closed');
    const requests: ArbiterRequest[] = [];
    for (const [name, inst] of Object.entries(g.view.instances)) {
      const lv = inst.lease?.value;
      if (lv && (lv.holder === node || lv.outgoing?.node === node)) requests.push({ type: 'nodeGone', instance: name, node });
    }
    return { view: g.view, reconcile: g.changed, requests };
  }

  /** The instances a node is a member or incumbent of, plus `extra`. */
  private instancesOf(v: ArbiterView, node: string, extra: readonly string[]): string[] {
    const out = new Set(extra);
    for (const [name, inst] of Object.entries(v.instances)) {
      const lv = inst.lease?.value;
      if (node in inst.members || lv?.holder === node || lv?.outgoing?.node === node) out.add(name);
    }
    return [...out];
  }

  // -------------------------------------------------------------------------
  // Time

  /** One timer per instance at its next deadline; a waiting decision also looks again after a renewal interval. */
  private armDeadline(instance: string, d: Decision | null, now: number, view: ArbiterView = this.view): void {
    if (this.stopping) return;
    const inst = view.instances[instance];
    if (!inst) return;
    const candidates: number[] = [];
    const next = nextDeadline(view, instance, now);
    if (next !== null) candidates.push(next);
    if (d && (d.decision === 'wait' || d.decision === 'fenceFirst' || d.decision === 'writeFailed')) candidates.push(now + inst.policy.timing.renewIntervalMs);
    if (candidates.length === 0) return;
    const at = Math.min(...candidates);
    const existing = this.deadlines.get(instance);
    if (existing && existing.at <= at && existing.at > now) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.deadlines.delete(instance);
      this.enqueue({ kind: 'request', origin: internal({ type: 'reconcile', instance }) });
    }, Math.max(0, at - now) + 1);
    timer.unref();
    this.deadlines.set(instance, { at, timer });
  }

  /** After a failed write or a reconnect: ask the bucket until it answers, then reconcile everything. */
  private startProbing(): void {
    if (this.probing || this.stopping) return;
    this.probing = true;
    const round = async (): Promise<void> => {
      while (!this.stopping) {
        const r = await this.store.probe();
        const warmupLeft = this.reconnectedAt === null ? 0 : this.reconnectedAt + this.config.heartbeats.warmupMs - monotonicMs();
        if (r.ok && warmupLeft > 0) {
          const detail = `NATS reconnected: listening to heartbeats for ${Math.ceil(warmupLeft)} ms more before judging anyone`;
          this.fact('write path warming up', (v) => ({ view: recordWritePath(v, { available: false, detail }), reconcile: [] }));
          await new Promise<void>((res) => this.later(() => res(), Math.min(500, warmupLeft)));
          continue;
        }
        if (r.ok) {
          // What the other replicas wrote meanwhile, in case the restarted watch is slow to bring it.
          try {
            const all = await this.store.readAll();
            for (const [instance, entry] of all) this.fact(`lease ${instance}`, (v) => this.foldLease(v, instance, entry));
          } catch (e) {
            this.log.warn({ err: (e as Error).message }, 'reading the leases after the write path came back failed; the watch will bring them');
          }
          this.log.info({}, 'lease write path available again');
          this.fact('write path back', (v) => ({ view: recordWritePath(v, { available: true }), reconcile: Object.keys(v.instances) }));
          break;
        }
        this.fact('write path down', (v) => ({ view: recordWritePath(v, { available: false, detail: r.detail }), reconcile: [] }));
        await new Promise<void>((res) => this.later(() => res(), 250));
      }
      this.probing = false;
    };
    this.track(round());
  }

  private later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch((e: unknown) => this.log.error({ err: (e as Error).message }, 'background task failed'));
    this.inFlight.add(q);
    void q.finally(() => this.inFlight.delete(q));
  }

  private finishUnanswered(origin: Origin, reason: string): void {
    const instance = 'instance' in origin.request ? origin.request.instance : undefined;
    this.send(origin, { type: 'refuse', v: PROTOCOL_VERSION, ...(instance ? { instance } : {}), reason });
    origin.onFinal?.({ decision: 'refuse', reason, actions: [] });
  }

  private logDecision(request: ArbiterRequest, d: Decision): void {
    const instance = 'instance' in request ? request.instance : request.write.instance;
    const node = 'node' in request ? request.node : undefined;
    const quiet = d.decision === 'noop' || (request.type === 'renew' && d.decision === 'propose') || (request.type === 'writeResult' && d.decision === 'renew');
    const fields = { request: request.type, instance, ...(node ? { node } : {}), decision: d.decision, reason: d.reason };
    if (quiet) this.log.debug(fields, 'decision');
    else this.log.info(fields, 'decision');
  }

  // -------------------------------------------------------------------------
  // Stop

  /**
   * Clean stop: no new requests (the queue group's other replicas take them),
   * the writes in flight finish and their answers go out, running fences are
   * aborted (their receivers' idempotency makes a later retry safe), timers
   * cleared. The caller then closes the NATS connection.
   */
  async stop(timeoutMs = 5000): Promise<void> {
    if (this.stopping) return;
    if (this.requestSub) await this.requestSub.drain().catch(() => undefined);
    this.stopping = true;
    this.liveness?.stop();
    for (const s of this.subs) s.unsubscribe();
    for (const t of this.timers) clearTimeout(t);
    for (const { timer } of this.deadlines.values()) clearTimeout(timer);
    this.deadlines.clear();
    this.fenceAbort.abort();
    const settle = Promise.all([...this.inFlight]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([settle, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    this.store.close();
    const waiting = [...this.deferred.values()].flat();
    this.deferred.clear();
    for (const origin of [...waiting, ...this.queue.filter((i): i is Extract<Item, { kind: 'request' }> => i.kind === 'request').map((i) => i.origin)]) {
      this.finishUnanswered(origin, 'the arbiter replica is stopping; ask again');
    }
    this.queue.length = 0;
  }
}

/**
 * NodeView.heardAt is decide()'s evidence that a holder whose lease ran out is
 * alive and says what it serves since. Only a heartbeat after the expiry of a
 * lease the node holds counts, so only that one is recorded: a copy of the
 * nodes map at every heartbeat of every node is too much with thousands.
 */
function heardAfterExpiry(view: ArbiterView, hb: Heartbeat, now: number): ArbiterView {
  const heard = view.nodes[hb.node]?.heardAt ?? 0;
  for (const r of hb.instances) {
    const lv = view.instances[r.instance]?.lease?.value;
    if (lv && lv.holder === hb.node && now >= lv.expiresAt && heard < lv.expiresAt) return recordHeard(view, hb.node, now);
  }
  return view;
}

function internal(request: ArbiterRequest): Origin {
  return { request, attempts: 0, replied: false };
}
