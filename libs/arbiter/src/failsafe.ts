/**
 * The agent's own rule for when no arbiter answers: what `mode` means on the
 * agent side. decide() never sees this case (no arbiter is there to run it),
 * so it is a separate pure function the agent calls on its own clock.
 *
 * - `strict`: no VIP without a lease. While the arbiter is unreachable the
 *   holder keeps the VIP only until its self-demotion deadline (the last
 *   confirmed renewal's validity minus the safety margin, timing.ts), then
 *   removes it. A backup never takes over. Safety over liveness: if NATS is
 *   down for longer than a lease, the VIP is down too.
 * - `failsafe` (the default): as strict while an arbiter answers. When none
 *   does, the holder keeps the VIP past its lease while its gateway answers and
 *   no higher-priority advert arrives (a node cut off from its gateway is the
 *   one that must not serve); a backup takes over only if the master is silent
 *   on VRRP (nothing heard for Master_Down_Interval) and its own gateway
 *   answers. Two nodes that both reach the gateway but not each other over VRRP
 *   can then both serve: that is the liveness failsafe buys, and why the
 *   degraded period is journaled and published on reconnect, where the
 *   arbiter's split-brain detection orders the one without the lease down.
 * - `off`: plain VRRP decides; the agent only publishes events.
 *
 * Time here is the agent's monotonic clock (ms), unlike decide()'s.
 */
import type { ArbiterMode } from './types.js';

export interface FailsafeLocalView {
  readonly mode: ArbiterMode;
  /** holder: this node serves the VIP; backup: it does not. */
  readonly role: 'holder' | 'backup';
  /** Some arbiter answered within the request timeout, over NATS. */
  readonly arbiterReachable: boolean;
  /** The node's own gateway check. */
  readonly gatewayUp: boolean;
  /** Holder: when it must have removed the VIP if no renewal is confirmed (selfDemotionAt); null without a lease. */
  readonly selfDemotionAt: number | null;
  /** Holder: an advert with a higher priority than ours arrived (VRRP says we lost the election). */
  readonly higherPriorityAdvertSeen: boolean;
  /** Backup: when the current master's last advert arrived; null when none was ever heard. */
  readonly lastMasterAdvertAt: number | null;
  /** Backup: Master_Down_Interval for the master's interval and our priority. */
  readonly masterDownIntervalMs: number;
}

export type FailsafeVerdictKind =
  /** An arbiter answers: claims and renewals go through it, as in strict. */
  | 'askArbiter'
  /** mode off: the VRRP state machine alone decides. */
  | 'followVrrp'
  /** Holder keeps the VIP. */
  | 'keep'
  /** Holder removes the VIP (then the priority-0 advert). */
  | 'demote'
  /** Backup takes the VIP without a lease. */
  | 'takeOver'
  /** Backup stays backup. */
  | 'stay';

export interface FailsafeVerdict {
  readonly verdict: FailsafeVerdictKind;
  readonly reason: string;
}

const ms = (n: number): string => `${Math.round(n)} ms`;

export function failsafeVerdict(local: FailsafeLocalView, now: number): FailsafeVerdict {
  if (local.mode === 'off') return { verdict: 'followVrrp', reason: 'mode off: plain VRRP decides' };
  if (local.arbiterReachable) return { verdict: 'askArbiter', reason: 'an arbiter answers: claims and renewals go through it' };

  if (local.role === 'holder') {
    const deadline = local.selfDemotionAt;
    if (local.mode === 'strict') {
      if (deadline !== null && now < deadline) {
        return { verdict: 'keep', reason: `strict, no arbiter: keeping the VIP until the lease deadline in ${ms(deadline - now)}` };
      }
      return { verdict: 'demote', reason: 'strict, no arbiter: the lease could not be renewed before its deadline; no VIP without a lease' };
    }
    if (!local.gatewayUp) return { verdict: 'demote', reason: 'failsafe, no arbiter: the gateway does not answer, so this node must not serve' };
    if (local.higherPriorityAdvertSeen) return { verdict: 'demote', reason: 'failsafe, no arbiter: a higher-priority advert arrived; VRRP elects the other node' };
    const past = deadline !== null && now >= deadline ? ' past its lease' : '';
    return { verdict: 'keep', reason: `failsafe, no arbiter: keeping the VIP${past}; the gateway answers and no higher-priority advert arrived` };
  }

  if (local.mode === 'strict') return { verdict: 'stay', reason: 'strict, no arbiter: no VIP without a lease' };
  const last = local.lastMasterAdvertAt;
  const silentFor = last === null ? null : now - last;
  const silent = silentFor === null || silentFor >= local.masterDownIntervalMs;
  if (!silent) {
    return { verdict: 'stay', reason: `failsafe, no arbiter: the master advertised ${ms(silentFor!)} ago (Master_Down_Interval ${ms(local.masterDownIntervalMs)})` };
  }
  const heard = silentFor === null ? 'no master was ever heard' : `the master has been silent on VRRP for ${ms(silentFor)}`;
  if (!local.gatewayUp) return { verdict: 'stay', reason: `failsafe, no arbiter: ${heard}, but our own gateway does not answer` };
  return { verdict: 'takeOver', reason: `failsafe, no arbiter: ${heard} (Master_Down_Interval ${ms(local.masterDownIntervalMs)}) and our gateway answers: taking over without a lease` };
}
