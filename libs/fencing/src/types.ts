/**
 * The shapes every fencing backend shares. A backend never throws for a fence
 * that fails, hangs or is refused: it resolves a FenceResult with a reason, so
 * the arbiter can publish it as it does every other decision.
 */
import type { ErrorCode } from '../../common/src/errors.js';

/** What a fence asks of the target's power: the actions of Pacemaker's fence agents. */
export type FenceAction = 'off' | 'on' | 'reboot' | 'status';
export const FENCE_ACTIONS: readonly FenceAction[] = ['off', 'on', 'reboot', 'status'];

export type FenceBackend = 'webhook' | 'agent';

export interface FenceRequest {
  action: FenceAction;
  /** The node to fence, as the cluster names it. */
  node: string;
  cluster: string;
  /** The VRRP instance whose lease is at stake, when there is one. */
  instance?: string;
  /** The lease epoch the fence is for, when there is one. */
  epoch?: number;
  /** Why: published, sent to the receiver, never a secret. */
  reason: string;
  /**
   * Stable across the retries and polls of one fence. Give one derived from
   * what the fence is for (cluster, instance, epoch, node, action) so that
   * arbiter replicas fencing the same thing converge on one operation at the
   * receiver; without one, each fence() call draws a random key. Printable
   * ASCII, at most 255 characters.
   */
  idempotencyKey?: string;
}

/** How one attempt ended. */
export type AttemptOutcome =
  /** The action is done (and, for a confirmation, the state agrees). */
  | 'done'
  /** Accepted but not done yet (webhook 202): polled again, not a retry. */
  | 'in-progress'
  /** Failed in a way another attempt may fix (timeout, 5xx, connection refused, agent exit 1). */
  | 'retryable'
  /** Failed in a way retrying cannot fix (4xx, a broken contract, a contradicting status). */
  | 'failed';

/** One request to a receiver or one run of a fence agent, reported as it ends. */
export interface FenceAttempt {
  /** 1-based, counting every request or run of this fence, polls and confirmations included. */
  attempt: number;
  backend: FenceBackend;
  /** What this attempt asked for: an agent's confirmation asks for 'status'. */
  action: FenceAction;
  /** request: the fence itself; poll: asking again after "in progress"; confirm: a status run after off/on. */
  kind: 'request' | 'poll' | 'confirm';
  /** HTTP status code or the agent's exit code; null when none came (timeout, refused connection, killed). */
  status: number | null;
  outcome: AttemptOutcome;
  /** Why it did not succeed; secrets redacted. Absent when done or in progress. */
  error?: string;
  durationMs: number;
  /** The fence agent's output, short, passwords redacted. */
  excerpt?: string;
}

export interface FenceResult {
  /** The action was carried out (for 'status': the state was read). */
  ok: boolean;
  /**
   * The end state is known to hold: the webhook receiver said it is done
   * (its contract is to say so only then), or the agent's separate status run
   * agrees. A `fencing: required` policy must wait for ok && confirmed.
   */
  confirmed: boolean;
  /** How many attempts were made (requests, polls, runs, confirmations). */
  attempts: number;
  /** A sentence for the log and the event; never a secret. */
  reason: string;
  durationMs: number;
  backend: FenceBackend;
  action: FenceAction;
  node: string;
  /** The power state when it was learnt ('status', a confirmation, or a receiver's answer). */
  power?: 'on' | 'off';
  /** Why it failed, from the error catalogue; absent when ok and confirmed. */
  code?: ErrorCode;
  /** The key sent with every attempt (webhook). */
  idempotencyKey?: string;
}

export interface FenceCallOptions {
  /** Called once per attempt as it ends, so each can be published as an event. Exceptions are ignored. */
  onAttempt?: (attempt: FenceAttempt) => void;
  /** Aborting stops waiting and kills a running agent; the result says so. */
  signal?: AbortSignal;
}

/** A fencing backend. fence() never rejects. */
export interface Fencer {
  readonly backend: FenceBackend;
  /** Names the device for logs: a URL without credentials or query, or an agent's path. */
  readonly description: string;
  fence(request: FenceRequest, options?: FenceCallOptions): Promise<FenceResult>;
}
