/**
 * The backend-neutral side of fencing: the config shape the arbiter reads
 * (plain types here; the config model adds the schema), createFencer() that
 * turns it into a Fencer once at boot, and gates that may refuse a fence
 * before any backend is asked.
 */
import { promises as fs } from 'node:fs';
import { KqError } from '../../common/src/errors.js';
import { monotonicMs } from '../../common/src/clock.js';
import { checkFenceAgent, FenceAgentFencer, type AgentOptionValue } from './fence-agent.js';
import { WebhookFencer } from './webhook.js';
import type { FenceAction, FenceCallOptions, Fencer, FenceRequest, FenceResult } from './types.js';

export interface WebhookFencerConfig {
  type: 'webhook';
  url: string;
  /** The HMAC key itself; prefer secretFile. Exactly one of the two. */
  secret?: string;
  /** A file holding the key (one trailing newline ignored), not readable by everyone. */
  secretFile?: string;
  timeoutMs?: number;
  retries?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  totalTimeoutMs?: number;
  pollIntervalMs?: number;
  headers?: Record<string, string>;
  /** PEM file of the CA that signed the receiver's certificate. */
  caFile?: string;
}

export interface AgentFencerConfig {
  type: 'agent';
  /** /usr/sbin/fence_ipmilan */
  agent: string;
  /** Pacemaker's stonith attributes: { ip, username, password, lanplus: true, ... }. */
  options?: Record<string, AgentOptionValue>;
  timeoutMs?: number;
  killGraceMs?: number;
  retries?: number;
  confirm?: boolean;
  hostArgument?: string;
  hostMap?: Record<string, string>;
}

export type FencerConfig = WebhookFencerConfig | AgentFencerConfig;

/** Reads a secret file once: refuses one others can read, and an empty one. The message never holds the secret. */
export async function readSecretFile(path: string): Promise<string> {
  let text: string;
  try {
    const st = await fs.stat(path);
    if (!st.isFile()) throw new KqError('KQ_ERR_FENCE_SECRET', `fencing webhook: secretFile ${path} is not a file`);
    if ((st.mode & 0o007) !== 0) {
      throw new KqError('KQ_ERR_FENCE_SECRET', `fencing webhook: secretFile ${path} is open to everyone (mode 0${(st.mode & 0o777).toString(8)}); chmod 600 it`);
    }
    text = await fs.readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof KqError) throw e;
    throw new KqError('KQ_ERR_FENCE_SECRET', `fencing webhook: cannot read secretFile ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret.length === 0) throw new KqError('KQ_ERR_FENCE_SECRET', `fencing webhook: secretFile ${path} is empty`);
  return secret;
}

/**
 * Builds a fencer from its config, once, at boot: reads the secret and CA
 * files, checks the agent can be run, validates every option. Throws KqError
 * (KQ_ERR_FENCE_CONFIG, KQ_ERR_FENCE_SECRET) with a message that says what to fix.
 */
export async function createFencer(config: FencerConfig, options: { gates?: readonly FenceGate[] } = {}): Promise<Fencer> {
  let fencer: Fencer;
  if (config?.type === 'webhook') {
    if ((config.secret === undefined) === (config.secretFile === undefined)) {
      throw new KqError('KQ_ERR_FENCE_CONFIG', 'fencing webhook: give exactly one of secret and secretFile');
    }
    const secret = config.secretFile !== undefined ? await readSecretFile(config.secretFile) : (config.secret as string);
    let ca: Buffer | undefined;
    if (config.caFile !== undefined) {
      try {
        ca = await fs.readFile(config.caFile);
      } catch (e) {
        throw new KqError('KQ_ERR_FENCE_CONFIG', `fencing webhook: cannot read caFile ${config.caFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    const { type: _type, secret: _secret, secretFile: _file, caFile: _ca, ...rest } = config;
    fencer = new WebhookFencer({ ...rest, secret, ...(ca ? { ca } : {}) });
  } else if (config?.type === 'agent') {
    const { type: _type, ...rest } = config;
    fencer = new FenceAgentFencer(rest);
    await checkFenceAgent(config.agent);
  } else {
    throw new KqError('KQ_ERR_FENCE_CONFIG', `fencing: type must be 'webhook' or 'agent', not '${String((config as { type?: unknown })?.type)}'`);
  }
  return options.gates && options.gates.length > 0 ? withGates(fencer, options.gates) : fencer;
}

// ---------------------------------------------------------------------------
// Gates

export type GateVerdict = { allow: true } | { allow: false; reason: string };

/** Asked before a fence; a refusal stops it with no backend called. */
export interface FenceGate {
  readonly name: string;
  check(request: FenceRequest, signal?: AbortSignal): Promise<GateVerdict>;
}

export interface GatewayGateOptions {
  /** Named in the reason: "gateway 10.0.0.1". */
  gateway?: string;
  /** A check that has not answered by then counts as no answer. Default 5 s. */
  timeoutMs?: number;
  /** The actions gated. Default off and reboot: powering on (unfencing) and reading status harm no one, as fence_heuristics_ping lets "on" through. */
  actions?: readonly FenceAction[];
}

/**
 * Refuses to fence while this fencer's own gateway does not answer, as
 * fence_heuristics_ping does in front of a real agent: a fencer cut off from
 * the network cannot tell a dead peer from its own isolation, and must not
 * shoot the healthy side. `check` resolves true when the gateway answered
 * (libs/checks' probeIcmp fits); false, a rejection, or no answer within
 * timeoutMs refuse.
 */
export function gatewayGate(check: () => Promise<boolean>, options: GatewayGateOptions = {}): FenceGate {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const actions = new Set<FenceAction>(options.actions ?? ['off', 'reboot']);
  const gateway = options.gateway !== undefined ? `gateway ${options.gateway}` : 'gateway';
  const because = 'a fencer that cannot reach its own gateway may be the one cut off, so it fences no one (as fence_heuristics_ping)';
  return {
    name: 'gateway',
    async check(request: FenceRequest): Promise<GateVerdict> {
      if (!actions.has(request.action)) return { allow: true };
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      let answer: boolean | 'timeout';
      try {
        answer = await Promise.race([Promise.resolve().then(check), timeout]);
      } catch (e) {
        return { allow: false, reason: `this fencer's ${gateway} check failed (${(e as Error)?.message ?? String(e)}); ${because}` };
      } finally {
        clearTimeout(timer);
      }
      if (answer === true) return { allow: true };
      const what = answer === 'timeout' ? `check did not answer within ${timeoutMs} ms` : 'does not answer';
      return { allow: false, reason: `this fencer's ${gateway} ${what}; ${because}` };
    },
  };
}

/** A fencer that asks every gate, in order, before fencing. */
export function withGates(fencer: Fencer, gates: readonly FenceGate[]): Fencer {
  return {
    backend: fencer.backend,
    description: fencer.description,
    async fence(request: FenceRequest, call: FenceCallOptions = {}): Promise<FenceResult> {
      const started = monotonicMs();
      for (const gate of gates) {
        let verdict: GateVerdict;
        try {
          verdict = await gate.check(request, call.signal);
        } catch (e) {
          verdict = { allow: false, reason: `gate ${gate.name} failed: ${(e as Error)?.message ?? String(e)}` };
        }
        if (!verdict.allow) {
          return {
            ok: false,
            confirmed: false,
            attempts: 0,
            durationMs: monotonicMs() - started,
            backend: fencer.backend,
            action: request.action,
            node: request.node,
            code: 'KQ_ERR_FENCE_GATED',
            reason: `refused to ${request.action} node ${request.node} through ${fencer.description}: ${verdict.reason}`,
          };
        }
      }
      return fencer.fence(request, call);
    },
  };
}
