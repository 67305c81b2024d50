/**
 * Is a holder's agent still connected to NATS? The fast path for "the agent
 * died, its host is up" (issue 5): the agent's NATS connection closes at once
 * (the kernel closes the socket of a dead process), long before its
 * heartbeats are missed or its renewals overdue.
 *
 * How the arbiter sees a connection close, with nats-server 2.9 and the
 * deployed configuration (deploy/nats: no accounts, everyone in the global
 * account): the server's connect/disconnect advisories
 * ($SYS.ACCOUNT.<acc>.DISCONNECT) are published in the system account only,
 * which no client of that configuration can subscribe to. What every client
 * does see is interest: when a connection closes, the server drops its
 * subscriptions, and a message published with a reply subject to a subject
 * nobody subscribes to is answered at once with a 503 "no responders" status.
 *
 * Every agent has a subscription for as long as its connection lives: the
 * reply inbox of its requests (nats.js subscribes `_INBOX.<id>.*` once per
 * connection and keeps it across reconnects). The arbiter learns that prefix
 * from the reply subject of the agent's claims and renewals, and sends a probe
 * to a token under it that the agent's client does not know (it drops it,
 * unanswered, never logged). Silence means the subscription is there; a 503
 * means it is gone.
 *
 * The verdict (`LivenessTracker`, pure, unit-tested):
 * - a node is probed only once it was learnt, and it counts only after a probe
 *   found its inbox there (`verified`): an inbox that was never a standing
 *   subscription (a client that makes a new inbox per request) never yields
 *   "gone";
 * - it is gone when every probe over `confirmMs` found no interest (at least
 *   two): a reconnect to another server of the cluster (the subscription
 *   moves with it within milliseconds) is not a death;
 * - an inbox belongs to one agent process (incarnation): it is tagged with the
 *   bootId of the node's heartbeats when it is learnt, and probed only while
 *   that is still the node's bootId. Requests carry no bootId: an inbox learnt
 *   before the node's first heartbeat is not probed until a request re-teaches
 *   it. A heartbeat with another bootId (a restarted agent) forgets the inbox
 *   at once: the probes of a dead process's inbox, which would answer "no
 *   responders" for a healthy successor, stop. Another replica may have
 *   answered the new process's requests (queue group): this one then probes
 *   nothing until it answers one itself;
 * - a heartbeat while the inbox shows no interest (or after a "gone" verdict)
 *   proves the node's agent has a live connection that is not the inbox's:
 *   the inbox is forgotten, no verdict is reached on it, and a verdict already
 *   reached is withdrawn (`stillGone` false: the shell does not act on it);
 * - a new request from the node (a new inbox) starts over.
 *
 * What "gone" does is the shell's (arbiter.ts): the node is marked
 * disconnected as after missed heartbeats, and decide() is asked `nodeGone`
 * for the instances it holds; with fencing on that fences it and grants the
 * backup on the confirmation, without waiting for Master_Down_Interval or the
 * lease. An agent that is alive after all heartbeats again and is connected
 * and a member again at once. Only holders (and a forced failover's outgoing
 * holder) of instances with fencing on are probed: nothing else would act on
 * the verdict.
 */
import { createInbox, type Msg, type NatsConnection, type Subscription } from 'nats';
import type { Logger } from '../../../libs/common/src/log.js';

/** The token the probes use under an agent's inbox prefix: no request of the agent has it. */
export const PROBE_TOKEN = 'kq-arbiter-liveness';

export interface LivenessOptions {
  /** Time between two probes of a watched node, ms; 0 turns the fast path off. */
  readonly probeMs: number;
  /** A node is gone once every probe over this long found no interest, ms. */
  readonly confirmMs: number;
}

/** The mux prefix of a nats.js reply subject (`_INBOX.<id>.<token>` -> `_INBOX.<id>.`), or null. */
export function inboxPrefixOf(reply: string | undefined): string | null {
  if (!reply) return null;
  const dot = reply.lastIndexOf('.');
  if (dot <= 0 || dot === reply.length - 1) return null;
  const prefix = reply.slice(0, dot + 1);
  // A prefix must be a plain subject (no wildcards): it is published to.
  if (/[\s*>]/.test(prefix)) return null;
  return prefix;
}

interface NodeState {
  prefix: string;
  /** The bootId of the node's heartbeats when the inbox was learnt (null: none heard yet): the agent process it belongs to. */
  incarnation: string | null;
  /** A probe found the inbox there at least once. */
  verified: boolean;
  /** When the first probe of the current run of "no interest" was sent; null while there is interest. */
  noInterestSince: number | null;
  /** The last probe sent and not answered with a 503 yet: its sequence and when it was sent. */
  outstanding: { seq: number; at: number } | null;
  gone: boolean;
}

/** The verdicts, without I/O: fed with what was sent and what came back, at explicit instants. */
export class LivenessTracker {
  private readonly nodes = new Map<string, NodeState>();
  /** Each node's agent process, as its last heartbeat named it (bootId). */
  private readonly boots = new Map<string, string>();
  private seq = 0;

  constructor(private readonly confirmMs: number) {}

  /**
   * A request of `node` came with this reply subject: the inbox of the node's
   * current agent process (the bootId of its last heartbeat). A new inbox, or
   * the same one under another process, starts over; true when it does.
   */
  learn(node: string, reply: string | undefined): boolean {
    const prefix = inboxPrefixOf(reply);
    if (prefix === null) return false;
    const incarnation = this.boots.get(node) ?? null;
    const s = this.nodes.get(node);
    if (s && s.prefix === prefix && s.incarnation === incarnation) return false;
    this.nodes.set(node, { prefix, incarnation, verified: false, noInterestSince: null, outstanding: null, gone: false });
    return true;
  }

  /**
   * A heartbeat of `node` from agent process `bootId`. Returns why the learnt
   * inbox is forgotten (its probes stop, a pending verdict on it is void), or
   * null when it stays.
   */
  heartbeat(node: string, bootId: string): string | null {
    const before = this.boots.get(node);
    this.boots.set(node, bootId);
    const s = this.nodes.get(node);
    if (!s) return null;
    let why: string | null = null;
    if (s.incarnation !== bootId) {
      why =
        s.incarnation === null
          ? `the inbox ${s.prefix} was learnt before any heartbeat of ${node}: it may be another process's`
          : `${node}'s agent restarted (bootId ${before ?? s.incarnation} -> ${bootId}): the inbox ${s.prefix} was the old process's`;
    } else if (s.gone) {
      why = `${node}'s agent heartbeats after its inbox ${s.prefix} was judged gone: it is alive, the verdict is withdrawn`;
    } else if (s.noInterestSince !== null) {
      why = `${node}'s agent heartbeats while its inbox ${s.prefix} has no subscriber: the inbox is not its connection's`;
    }
    if (why !== null) this.nodes.delete(node);
    return why;
  }

  /** A "gone" verdict on `node`'s process `incarnation` still stands: no heartbeat, no new process since. */
  stillGone(node: string, incarnation: string | null): boolean {
    const s = this.nodes.get(node);
    return !!s && s.gone && incarnation !== null && s.incarnation === incarnation && this.boots.get(node) === incarnation;
  }

  /** The agent process the learnt inbox of `node` belongs to (null: none learnt, or before any heartbeat). */
  incarnationOf(node: string): string | null {
    return this.nodes.get(node)?.incarnation ?? null;
  }

  forget(node: string): void {
    this.nodes.delete(node);
  }

  /**
   * A probe round at `now` for the nodes in `watched`: the probes to send
   * (node, subject, sequence). A probe from the round before that got no 503
   * found the inbox there.
   */
  round(watched: Iterable<string>, now: number): { node: string; subject: string; seq: number }[] {
    const out: { node: string; subject: string; seq: number }[] = [];
    for (const node of watched) {
      const s = this.nodes.get(node);
      if (!s || s.gone) continue;
      // Only the inbox of the process that heartbeats now: another's says nothing about it.
      if (s.incarnation === null || s.incarnation !== this.boots.get(node)) continue;
      if (s.outstanding) {
        // No 503 for it since it was sent: someone listens on the inbox.
        s.verified = true;
        s.noInterestSince = null;
      }
      const seq = ++this.seq;
      s.outstanding = { seq, at: now };
      out.push({ node, subject: `${s.prefix}${PROBE_TOKEN}`, seq });
    }
    return out;
  }

  /**
   * The server answered probe `seq` of `node` with "no responders". Returns
   * true when that makes the node gone (once): verified before, and no
   * interest for at least `confirmMs` of probes.
   */
  noResponders(node: string, seq: number): boolean {
    const s = this.nodes.get(node);
    if (!s || s.gone || !s.outstanding || s.outstanding.seq !== seq) return false;
    if (s.incarnation === null || s.incarnation !== this.boots.get(node)) return false;
    const sentAt = s.outstanding.at;
    s.outstanding = null;
    if (!s.verified) return false;
    s.noInterestSince ??= sentAt;
    if (sentAt - s.noInterestSince < this.confirmMs) return false;
    s.gone = true;
    return true;
  }

  /** What is known of each learnt node's connection: for status pages and tests. */
  states(): Record<string, 'unverified' | 'open' | 'closing' | 'gone'> {
    const out: Record<string, 'unverified' | 'open' | 'closing' | 'gone'> = {};
    for (const [node, s] of this.nodes) out[node] = s.gone ? 'gone' : !s.verified ? 'unverified' : s.noInterestSince !== null ? 'closing' : 'open';
    return out;
  }

  /** For the logs: how long the node has shown no interest, ms (null: it has). */
  silentFor(node: string, now: number): number | null {
    const since = this.nodes.get(node)?.noInterestSince;
    return since === null || since === undefined ? null : now - since;
  }
}

/** The probes on the wire: one subscription for every 503, one publish per watched node and round. */
export class InboxLiveness {
  private readonly tracker: LivenessTracker;
  private readonly prefix = `${createInbox()}.`;
  private readonly sub: Subscription;
  private readonly timer: NodeJS.Timeout | null;
  private readonly byToken = new Map<string, string>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: LivenessOptions,
    /** The nodes to probe now (holders of instances with fencing on). */
    private readonly watched: () => Iterable<string>,
    /** A node's agent process `incarnation` (bootId) is gone (its inbox showed no interest for confirmMs). */
    private readonly onGone: (node: string, detail: string, incarnation: string) => void,
    private readonly log?: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tracker = new LivenessTracker(options.confirmMs);
    this.sub = nc.subscribe(`${this.prefix}>`, { callback: (err, msg) => (err ? undefined : this.onReply(msg)) });
    if (options.probeMs > 0) {
      this.timer = setInterval(() => this.round(), options.probeMs);
      this.timer.unref();
    } else {
      this.timer = null;
    }
  }

  learn(node: string, reply: string | undefined): void {
    if (this.timer && this.tracker.learn(node, reply)) this.log?.debug({ node, inbox: inboxPrefixOf(reply) }, 'liveness: probing the node through its reply inbox');
  }

  /** A heartbeat of `node` from agent process `bootId`: see LivenessTracker.heartbeat. */
  heartbeat(node: string, bootId: string): void {
    const why = this.tracker.heartbeat(node, bootId);
    if (why !== null) this.log?.info({ node, bootId }, `liveness: inbox forgotten: ${why}`);
  }

  forget(node: string): void {
    this.tracker.forget(node);
  }

  /** See LivenessTracker.stillGone. */
  stillGone(node: string, incarnation: string): boolean {
    return this.tracker.stillGone(node, incarnation);
  }

  /** See LivenessTracker.states. */
  states(): ReturnType<LivenessTracker['states']> {
    return this.tracker.states();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.sub.unsubscribe();
  }

  private round(): void {
    if (this.nc.isClosed()) return;
    const probes = this.tracker.round(this.watched(), this.now());
    for (const p of probes) {
      const token = `${p.seq}`;
      this.byToken.set(token, p.node);
      try {
        this.nc.publish(p.subject, undefined, { reply: `${this.prefix}${token}` });
      } catch (e) {
        this.log?.debug({ node: p.node, err: (e as Error).message }, 'liveness probe not sent');
      }
    }
    // Tokens of probes that found interest are never answered: keep only the last rounds'.
    if (this.byToken.size > 4 * Math.max(16, probes.length)) {
      const keep = new Set(probes.map((p) => `${p.seq}`));
      for (const t of this.byToken.keys()) if (!keep.has(t)) this.byToken.delete(t);
    }
  }

  private onReply(msg: Msg): void {
    if (msg.headers?.code !== 503) return;
    const token = msg.subject.slice(this.prefix.length);
    const node = this.byToken.get(token);
    if (node === undefined) return;
    this.byToken.delete(token);
    this.log?.debug({ node }, 'liveness: no responders on the node\'s inbox');
    const silent = this.tracker.silentFor(node, this.now());
    const incarnation = this.tracker.incarnationOf(node);
    if (this.tracker.noResponders(node, Number(token)) && incarnation !== null) {
      const detail = `its agent's NATS connection is closed: the reply inbox of its requests (agent process ${incarnation}) has had no subscriber for ${Math.round(silent ?? this.options.confirmMs)} ms (probes every ${this.options.probeMs} ms)`;
      this.onGone(node, detail, incarnation);
    }
  }
}
