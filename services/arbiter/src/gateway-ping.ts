/**
 * ICMP pings from the arbiter's place (libs/checks probeIcmp, a raw socket:
 * root or CAP_NET_RAW):
 * - its own gateway: while it does not answer, this replica fences nobody
 *   (view.gateway; decide() and the fencer's gatewayGate both read it), as
 *   fence_heuristics_ping does;
 * - each node with a configured address: evidence about claimant and holder
 *   (view.nodes[n].reachableFromArbiter), never a verdict by itself.
 *
 * A verdict turns `down` after `fall` failed pings in a row and `up` at the
 * first answer, so one lost echo does not swing it.
 */
import { probeIcmp, type ProbeResult } from '../../../libs/checks/src/probes.js';
import type { Reachability } from '../../../libs/arbiter/src/types.js';

export interface PingTarget {
  /** null: the arbiter's own gateway; otherwise a node name. */
  readonly node: string | null;
  readonly address: string;
}

export interface GatewayPingOptions {
  readonly targets: readonly PingTarget[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Failures in a row before `down`. Default 2. */
  readonly fall?: number;
  /** Called when a target's verdict changes (and once for its first verdict). */
  readonly onVerdict: (target: PingTarget, verdict: Reachability, detail: string) => void;
  /** The probe; probeIcmp unless a test gives another. */
  readonly probe?: (address: string, timeoutMs: number) => Promise<ProbeResult>;
}

export class GatewayPinger {
  private readonly verdicts = new Map<PingTarget, { verdict: Reachability; failures: number }>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private readonly probe: (address: string, timeoutMs: number) => Promise<ProbeResult>;

  constructor(private readonly opts: GatewayPingOptions) {
    this.probe = opts.probe ?? ((address, timeoutMs) => probeIcmp({ address, timeoutMs }));
  }

  start(): void {
    if (this.running || this.opts.targets.length === 0) return;
    this.running = true;
    void this.round();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Pings the gateway now (for the fencer's gate): true when it answered. */
  async gatewayAnswers(): Promise<boolean> {
    const gw = this.opts.targets.find((t) => t.node === null);
    if (!gw) return false;
    const r = await this.probe(gw.address, this.opts.timeoutMs);
    this.record(gw, r);
    return r.ok;
  }

  private async round(): Promise<void> {
    if (!this.running) return;
    const results = await Promise.all(this.opts.targets.map(async (t) => [t, await this.probe(t.address, this.opts.timeoutMs)] as const));
    if (!this.running) return;
    for (const [t, r] of results) this.record(t, r);
    this.timer = setTimeout(() => void this.round(), this.opts.intervalMs);
    this.timer.unref();
  }

  private record(t: PingTarget, r: ProbeResult): void {
    const fall = this.opts.fall ?? 2;
    const prev = this.verdicts.get(t) ?? { verdict: 'unknown' as Reachability, failures: 0 };
    const failures = r.ok ? 0 : prev.failures + 1;
    const verdict: Reachability = r.ok ? 'up' : failures >= fall ? 'down' : prev.verdict;
    this.verdicts.set(t, { verdict, failures });
    if (verdict !== prev.verdict) this.opts.onVerdict(t, verdict, r.detail);
  }
}
