/**
 * Pacemaker-compatible fence agents: the `fence_*` programs of fence-agents
 * (fence_ipmilan, fence_redfish, fence_dummy, ...), run as Pacemaker's fencer
 * runs them: no arguments, and the options as `key=value` lines on stdin
 * (`action=off`, `plug=...`, `ip=...`, `username=...`, `password=...`),
 * with `nodename=<target>` as stonith-ng adds it (fence-agents' parser skips it
 * silently where an agent has no use for it).
 *
 * Exit codes, from fence-agents' fencing.py (the FenceAgentAPI):
 * - on, off, reboot: 0 is success, anything else is failure (1 generic error,
 *   3 login denied, 4 connection lost, 5 timed out, 6/7 the power did not
 *   change, 8 no status).
 * - status: 0 the target is on, 2 it is off, anything else: unknown (error).
 *
 * After off (and on), the state is confirmed by a separate `status` run
 * (exit 2 after off, 0 after on), unless `confirm: false` says to trust the
 * exit code alone as Pacemaker does. After reboot no status can show what
 * happened: fence-agents' reboot itself waits for the status to read off
 * before powering on, so its exit code is the confirmation.
 *
 * A run that outlives its timeout gets SIGTERM, then SIGKILL after the grace,
 * with everything it started: it runs in its own process group.
 */
import { spawn } from 'node:child_process';
import { constants as fsConstants, promises as fs } from 'node:fs';
import { basename, isAbsolute } from 'node:path';
import { KqError, type ErrorCode } from '../../common/src/errors.js';
import { monotonicMs } from '../../common/src/clock.js';
import { backoffDelay, sleep } from './retry.js';
import { excerpt, isSecretKey, redactText } from './redact.js';
import { requestProblem } from './request.js';
import type { FenceAction, FenceAttempt, FenceCallOptions, Fencer, FenceRequest, FenceResult } from './types.js';

export const AGENT_DEFAULTS = {
  /** Per run (the fence and each confirmation). Pacemaker's stonith-timeout is 60 s; IPMI answers well within 30. */
  timeoutMs: 30_000,
  /** Between SIGTERM and SIGKILL. */
  killGraceMs: 2_000,
  /** Retries of a failed run (Pacemaker's pcmk_off_retries is 2). */
  retries: 1,
  backoffMs: 1_000,
  maxBackoffMs: 8_000,
  /** Characters of output kept per run, after redaction. */
  excerptChars: 400,
  /** The option that names the target: Pacemaker's pcmk_host_argument. */
  hostArgument: 'plug',
} as const;

/** Output read from an agent at most: enough for any message, bounded against a flood. */
const CAPTURE_BYTES = 64 * 1024;
/** After exit, how long output still held open by a grandchild is read. */
const DRAIN_MS = 100;

export type AgentOptionValue = string | number | boolean;

// ---------------------------------------------------------------------------
// stdin

function optionsError(message: string): KqError {
  return new KqError('KQ_ERR_FENCE_CONFIG', `fencing agent: ${message}`);
}

/**
 * The `key=value` lines an agent reads on stdin. Throws KQ_ERR_FENCE_CONFIG for
 * a key that is not a plain name or a value with a line break (which would
 * smuggle in another option). Booleans become 1 and 0, as fence-agents reads them.
 */
export function formatAgentStdin(options: Readonly<Record<string, AgentOptionValue>>): string {
  let out = '';
  for (const [key, raw] of Object.entries(options)) {
    if (!/^[A-Za-z0-9_-]+$/.test(key)) throw optionsError(`option name '${key}' must be letters, digits, '_' or '-'`);
    let value: string;
    if (typeof raw === 'boolean') value = raw ? '1' : '0';
    else if (typeof raw === 'number' && Number.isFinite(raw)) value = String(raw);
    else if (typeof raw === 'string') value = raw;
    else throw optionsError(`option ${key} must be a string, number or boolean`);
    // The value itself is never named: it may be a password.
    if (/[\r\n\0]/.test(value)) throw optionsError(`option ${key} holds a line break or NUL, which would end its line on stdin`);
    out += `${key}=${value}\n`;
  }
  return out;
}

/** The values of options whose names say they are secrets (passwd, password, community, ...). */
export function secretValues(options: Readonly<Record<string, AgentOptionValue>>): string[] {
  return Object.entries(options)
    .filter(([k, v]) => isSecretKey(k) && typeof v === 'string' && v.length > 0)
    .map(([, v]) => v as string);
}

// ---------------------------------------------------------------------------
// One run

export interface AgentRun {
  /** Exited 0. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Stopped at its timeout (SIGTERM, then SIGKILL). */
  timedOut: boolean;
  /** Stopped because the caller aborted. */
  aborted: boolean;
  durationMs: number;
  /** stdout and stderr as they came, secrets redacted, shortened. */
  excerpt: string;
  /** Why it could not start at all. */
  error?: string;
}

export interface RunAgentOptions {
  timeoutMs: number;
  killGraceMs?: number;
  excerptChars?: number;
  /** Redacted from the output besides any secret-named key=value. */
  secrets?: readonly string[];
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  /** Arguments instead of stdin (the metadata probe: -o metadata). */
  args?: readonly string[];
  /** Keep the output whole and unredacted: only for metadata, which holds no secret. */
  raw?: boolean;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already
    }
  }
}

/** Runs an agent once with `stdin` as its input. Never rejects. */
export function runFenceAgent(agent: string, stdin: string, options: RunAgentOptions): Promise<AgentRun> {
  const started = monotonicMs();
  const grace = options.killGraceMs ?? AGENT_DEFAULTS.killGraceMs;
  const chars = options.excerptChars ?? AGENT_DEFAULTS.excerptChars;
  const secrets = options.secrets ?? [];
  const chunks: Buffer[] = [];
  let kept = 0;
  let overflowed = false;

  return new Promise<AgentRun>((resolve) => {
    let settled = false;
    let timedOut = false;
    let aborted = false;
    let stopping = false;
    let termTimer: NodeJS.Timeout | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;

    const finish = (exitCode: number | null, signal: NodeJS.Signals | null, error?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(termTimer);
      clearTimeout(killTimer);
      clearTimeout(drainTimer);
      options.signal?.removeEventListener('abort', onAbort);
      let text = Buffer.concat(chunks).toString('utf8');
      // Cut at the capture limit, a secret may have been cut in two: drop as
      // much as the longest secret so no prefix of one survives redaction.
      if (overflowed) text = text.slice(0, Math.max(0, text.length - Math.max(0, ...secrets.map((s) => s.length))));
      const run: AgentRun = {
        exitCode,
        signal,
        timedOut,
        aborted,
        durationMs: monotonicMs() - started,
        excerpt: options.raw ? text : excerpt(redactText(text, secrets), chars),
      };
      if (error !== undefined) run.error = error;
      resolve(run);
    };

    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(agent, [...(options.args ?? [])], {
        stdio: ['pipe', 'pipe', 'pipe'],
        // Its own process group: a timeout ends what it started too (ipmitool, ssh, curl).
        detached: true,
        env: options.env ?? process.env,
      });
    } catch (e) {
      finish(null, null, `cannot start ${agent}: ${(e as Error).message}`);
      return;
    }

    const collect = (data: Buffer): void => {
      if (kept >= CAPTURE_BYTES) {
        overflowed = true;
        return;
      }
      const piece = data.subarray(0, CAPTURE_BYTES - kept);
      if (piece.length < data.length) overflowed = true;
      chunks.push(piece);
      kept += piece.length;
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    // An agent that exits without reading its input: EPIPE is no news.
    child.stdin?.on('error', () => undefined);

    const stop = (): void => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      if (stopping) return;
      stopping = true;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => {
        if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      }, grace);
    };
    function onAbort(): void {
      if (!timedOut) aborted = true;
      stop();
    }
    termTimer = setTimeout(() => {
      if (!aborted) timedOut = true;
      stop();
    }, options.timeoutMs);
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });

    child.on('error', (e: NodeJS.ErrnoException) => finish(null, null, `cannot start ${agent}: ${e.code ?? ''} ${e.message}`.trim()));
    child.on('exit', (code, signal) => {
      clearTimeout(termTimer);
      // Once a stopped agent is gone, what it left in its group goes too.
      if (stopping && child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      drainTimer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish(code, signal);
      }, DRAIN_MS);
    });
    child.on('close', (code, signal) => finish(code, signal));

    child.stdin?.end(stdin);
  });
}

// ---------------------------------------------------------------------------
// Metadata

export interface FenceAgentParameter {
  name: string;
  required: boolean;
  type?: string;
  default?: string;
  shortdesc?: string;
}

export interface FenceAgentMetadata {
  name: string;
  shortdesc?: string;
  parameters: FenceAgentParameter[];
  actions: string[];
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return m?.[1] === undefined ? undefined : unescapeXml(m[1]);
}

function unescapeXml(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** Reads the resource-agent XML every fence-agents program prints for `-o metadata`. */
export function parseFenceAgentMetadata(xml: string): FenceAgentMetadata {
  const head = /<resource-agent\b[^>]*>/.exec(xml);
  if (!head) throw new KqError('KQ_ERR_FENCE_CONFIG', 'fencing agent: the metadata is not <resource-agent> XML');
  const meta: FenceAgentMetadata = { name: attr(head[0], 'name') ?? '', parameters: [], actions: [] };
  const shortdesc = attr(head[0], 'shortdesc');
  if (shortdesc !== undefined) meta.shortdesc = shortdesc;
  for (const m of xml.matchAll(/<parameter\b([^>]*)>([\s\S]*?)<\/parameter>/g)) {
    const tag = ` ${m[1] ?? ''}`;
    const inner = m[2] ?? '';
    const p: FenceAgentParameter = { name: attr(tag, 'name') ?? '', required: attr(tag, 'required') === '1' };
    const content = /<content\b[^>]*>/.exec(inner);
    if (content) {
      const type = attr(content[0], 'type');
      const dflt = attr(content[0], 'default');
      if (type !== undefined) p.type = type;
      if (dflt !== undefined) p.default = dflt;
    }
    const desc = /<shortdesc\b[^>]*>([\s\S]*?)<\/shortdesc>/.exec(inner);
    if (desc?.[1] !== undefined) p.shortdesc = unescapeXml(desc[1].trim());
    if (p.name) meta.parameters.push(p);
  }
  for (const m of xml.matchAll(/<action\b[^>]*>/g)) {
    const name = attr(m[0], 'name');
    if (name) meta.actions.push(name);
  }
  return meta;
}

/** Runs `<agent> -o metadata` and parses it. Throws KQ_ERR_FENCE_CONFIG when the agent cannot say. */
export async function probeFenceAgentMetadata(agent: string, options: { timeoutMs?: number } = {}): Promise<FenceAgentMetadata> {
  const run = await runFenceAgent(agent, '', { timeoutMs: options.timeoutMs ?? 10_000, args: ['-o', 'metadata'], raw: true });
  if (run.error !== undefined) throw new KqError('KQ_ERR_FENCE_CONFIG', `fencing agent: ${run.error}`);
  if (run.exitCode !== 0) {
    throw new KqError('KQ_ERR_FENCE_CONFIG', `fencing agent: ${agent} -o metadata ${run.timedOut ? 'timed out' : `exited ${run.exitCode ?? run.signal}`}: ${excerpt(redactText(run.excerpt, []), 200)}`);
  }
  return parseFenceAgentMetadata(run.excerpt);
}

// ---------------------------------------------------------------------------
// The fencer

export interface FenceAgentFencerOptions {
  /** Absolute path of the agent: /usr/sbin/fence_ipmilan. */
  agent: string;
  /** Its options, as Pacemaker's stonith resource attributes (ip, username, password, lanplus, ...). Not `action`. */
  options?: Readonly<Record<string, AgentOptionValue>>;
  /** Per run. Default 30 s. */
  timeoutMs?: number;
  /** SIGTERM to SIGKILL. Default 2 s. */
  killGraceMs?: number;
  /** Retries of a failed run. Default 1. */
  retries?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Run status after off and on to confirm. Default true. */
  confirm?: boolean;
  /**
   * The option the target's name (or its hostMap entry) is passed in, as
   * Pacemaker's pcmk_host_argument: default 'plug'; 'none' to pass none. An
   * explicit value of that option in `options` wins (a device per node).
   */
  hostArgument?: string;
  /** Node name to plug, as pcmk_host_map. */
  hostMap?: Readonly<Record<string, string>>;
  excerptChars?: number;
  random?: () => number;
  env?: NodeJS.ProcessEnv;
}

function whole(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) throw optionsError(`${name} must be a whole number >= ${min}, not ${String(value)}`);
  return value;
}

/** Exit code of a status run as a power state. */
function powerOf(run: AgentRun): 'on' | 'off' | undefined {
  if (run.error !== undefined || run.timedOut || run.aborted) return undefined;
  return run.exitCode === 0 ? 'on' : run.exitCode === 2 ? 'off' : undefined;
}

function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  return lines[lines.length - 1] ?? '';
}

/** A run in a few words: "exit 1 (Failed: Unable to connect)", "killed at the 30000 ms timeout". */
function describeRun(run: AgentRun, timeoutMs: number): string {
  if (run.error !== undefined) return run.error;
  if (run.aborted) return 'aborted';
  if (run.timedOut) return `killed at the ${timeoutMs} ms timeout${run.signal ? ` (${run.signal})` : ''}`;
  const how = run.exitCode !== null ? `exit ${run.exitCode}` : `killed by ${run.signal ?? 'a signal'}`;
  const said = lastLine(run.excerpt);
  return said ? `${how} (${excerpt(said, 160)})` : how;
}

export class FenceAgentFencer implements Fencer {
  readonly backend = 'agent' as const;
  readonly description: string;
  readonly #agent: string;
  readonly #name: string;
  readonly #options: Readonly<Record<string, AgentOptionValue>>;
  readonly #secrets: readonly string[];
  readonly #hostArgument: string | undefined;
  readonly #hostMap: Readonly<Record<string, string>>;
  readonly #timeoutMs: number;
  readonly #killGraceMs: number;
  readonly #retries: number;
  readonly #backoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #confirm: boolean;
  readonly #excerptChars: number;
  readonly #random: () => number;
  readonly #env: NodeJS.ProcessEnv | undefined;

  /** Checks the options (not the file: see checkFenceAgent). Throws KqError KQ_ERR_FENCE_CONFIG. */
  constructor(options: FenceAgentFencerOptions) {
    if (typeof options.agent !== 'string' || !isAbsolute(options.agent)) {
      throw optionsError(`agent must be an absolute path (/usr/sbin/fence_ipmilan), not '${String(options.agent)}'`);
    }
    this.#agent = options.agent;
    this.#name = basename(options.agent);
    this.description = `agent ${options.agent}`;
    const opts = { ...(options.options ?? {}) };
    for (const reserved of ['action', 'nodename']) {
      if (reserved in opts) throw optionsError(`option ${reserved} is set by keepquorum for each fence; remove it from options`);
    }
    formatAgentStdin(opts); // validates names and values once, at boot
    this.#options = Object.freeze(opts);
    this.#secrets = secretValues(opts);
    const hostArgument = options.hostArgument ?? AGENT_DEFAULTS.hostArgument;
    if (hostArgument !== 'none' && !/^[A-Za-z0-9_-]+$/.test(hostArgument)) throw optionsError(`hostArgument '${hostArgument}' is not an option name`);
    this.#hostArgument = hostArgument === 'none' ? undefined : hostArgument;
    for (const [node, plug] of Object.entries(options.hostMap ?? {})) {
      if (typeof plug !== 'string' || plug.length === 0 || /[\r\n\0]/.test(plug)) throw optionsError(`hostMap entry for ${node} must be a non-empty string on one line`);
    }
    this.#hostMap = Object.freeze({ ...(options.hostMap ?? {}) });
    this.#timeoutMs = whole('timeoutMs', options.timeoutMs, AGENT_DEFAULTS.timeoutMs, 1);
    this.#killGraceMs = whole('killGraceMs', options.killGraceMs, AGENT_DEFAULTS.killGraceMs, 0);
    this.#retries = whole('retries', options.retries, AGENT_DEFAULTS.retries, 0);
    this.#backoffMs = whole('backoffMs', options.backoffMs, AGENT_DEFAULTS.backoffMs, 0);
    this.#maxBackoffMs = whole('maxBackoffMs', options.maxBackoffMs, AGENT_DEFAULTS.maxBackoffMs, 0);
    this.#excerptChars = whole('excerptChars', options.excerptChars, AGENT_DEFAULTS.excerptChars, 0);
    this.#confirm = options.confirm ?? true;
    this.#random = options.random ?? Math.random;
    this.#env = options.env;
  }

  /** The stdin for an action against a node (for tests and `hactl fence --dry-run`; it holds secrets). */
  stdinFor(action: FenceAction, node: string): string {
    const lines: Record<string, AgentOptionValue> = { action };
    const host = this.#hostArgument;
    if (host !== undefined && !(host in this.#options)) lines[host] = this.#hostMap[node] ?? node;
    Object.assign(lines, this.#options);
    lines['nodename'] = node;
    return formatAgentStdin(lines);
  }

  async fence(request: FenceRequest, call: FenceCallOptions = {}): Promise<FenceResult> {
    const started = monotonicMs();
    const node = typeof request?.node === 'string' ? request.node : '';
    const action = request?.action;
    const base = { backend: 'agent' as const, action, node };
    const elapsed = (): number => monotonicMs() - started;
    const problem = requestProblem(request);
    if (problem !== undefined) {
      return { ...base, ok: false, confirmed: false, attempts: 0, durationMs: elapsed(), code: 'KQ_ERR_FENCE_REQUEST', reason: `${this.#name} was not run: ${problem}` };
    }

    let attempt = 0;
    const report = (a: FenceAttempt): void => {
      try {
        call.onAttempt?.(a);
      } catch {
        // A broken listener must not stop a fence.
      }
    };
    const result = (ok: boolean, confirmed: boolean, reason: string, code?: ErrorCode, power?: 'on' | 'off'): FenceResult => {
      const r: FenceResult = { ...base, ok, confirmed, attempts: attempt, durationMs: elapsed(), reason };
      if (code !== undefined) r.code = code;
      if (power !== undefined) r.power = power;
      return r;
    };
    const what = `${this.#name} ${action} node ${node}`;

    /** Runs `runAction` until `accept` says it answered, retries run out, or an abort. */
    const runUntil = async (
      runAction: FenceAction,
      kind: FenceAttempt['kind'],
      accept: (run: AgentRun) => boolean,
      /** For an answer that is an answer but the wrong one (status on after off): why. */
      contradiction?: (run: AgentRun) => string | undefined,
    ): Promise<{ run: AgentRun; accepted: boolean }> => {
      let failures = 0;
      for (;;) {
        attempt++;
        const run = await runFenceAgent(this.#agent, this.stdinFor(runAction, node), {
          timeoutMs: this.#timeoutMs,
          killGraceMs: this.#killGraceMs,
          excerptChars: this.#excerptChars,
          secrets: this.#secrets,
          ...(call.signal ? { signal: call.signal } : {}),
          ...(this.#env ? { env: this.#env } : {}),
        });
        const accepted = accept(run);
        const record: FenceAttempt = {
          attempt,
          backend: 'agent',
          action: runAction,
          kind,
          status: run.exitCode,
          outcome: accepted ? 'done' : 'retryable',
          durationMs: run.durationMs,
          excerpt: run.excerpt,
        };
        if (!accepted) record.error = describeRun(run, this.#timeoutMs);
        const wrong = accepted ? contradiction?.(run) : undefined;
        if (wrong !== undefined) {
          record.outcome = 'failed';
          record.error = wrong;
        }
        failures += accepted ? 0 : 1;
        if (!accepted && (failures > this.#retries || run.aborted)) record.outcome = 'failed';
        report(record);
        if (accepted || record.outcome === 'failed') return { run, accepted };
        const delay = backoffDelay(failures, { baseMs: this.#backoffMs, maxMs: this.#maxBackoffMs, random: this.#random });
        if (!(await sleep(delay, call.signal))) return { run: { ...run, aborted: true }, accepted: false };
      }
    };
    const failCode = (run: AgentRun): ErrorCode => (run.aborted ? 'KQ_ERR_FENCE_ABORTED' : run.timedOut ? 'KQ_ERR_FENCE_TIMEOUT' : 'KQ_ERR_FENCE_FAILED');
    const tries = (): string => `after ${attempt} run${attempt === 1 ? '' : 's'}`;

    if (action === 'status') {
      const { run, accepted } = await runUntil('status', 'request', (r) => powerOf(r) !== undefined);
      if (!accepted) return result(false, false, `${what} could not read the power state: ${describeRun(run, this.#timeoutMs)}, ${tries()}`, failCode(run));
      const power = powerOf(run)!;
      return result(true, true, `${this.#name} says node ${node} is ${power} (exit ${run.exitCode})`, undefined, power);
    }

    const { run, accepted } = await runUntil(action, 'request', (r) => r.error === undefined && !r.timedOut && !r.aborted && r.exitCode === 0);
    if (!accepted) return result(false, false, `${what} failed: ${describeRun(run, this.#timeoutMs)}, ${tries()}`, failCode(run));
    const saidDone = `${this.#name} ${action} of node ${node} exited 0`;
    if (action === 'reboot' || !this.#confirm) {
      return result(true, true, `${saidDone}${action === 'reboot' ? ' (its reboot waits for off before on)' : ' (confirm is off: the exit code is trusted)'}`);
    }

    const want: 'on' | 'off' = action === 'on' ? 'on' : 'off';
    const check = await runUntil(
      'status',
      'confirm',
      (r) => powerOf(r) !== undefined,
      (r) => (powerOf(r) === want ? undefined : `status says ${powerOf(r)} (exit ${r.exitCode}) after ${action}`),
    );
    const power = check.accepted ? powerOf(check.run) : undefined;
    if (power === want) return result(true, true, `${saidDone}; status confirms it is ${want} (exit ${check.run.exitCode})`, undefined, power);
    if (power !== undefined) {
      return result(false, false, `${saidDone}, but status says it is ${power} (exit ${check.run.exitCode}): not fenced`, 'KQ_ERR_FENCE_UNCONFIRMED', power);
    }
    return result(true, false, `${saidDone}, but status could not confirm it: ${describeRun(check.run, this.#timeoutMs)}`, 'KQ_ERR_FENCE_UNCONFIRMED');
  }
}

/** Checks at boot that the agent is a file this process may run. Throws KQ_ERR_FENCE_CONFIG. */
export async function checkFenceAgent(agent: string): Promise<void> {
  try {
    const st = await fs.stat(agent);
    if (!st.isFile()) throw optionsError(`${agent} is not a file`);
    await fs.access(agent, fsConstants.X_OK);
  } catch (e) {
    if (e instanceof KqError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw optionsError(
      code === 'ENOENT' ? `${agent} does not exist (Debian and Ubuntu: apt install fence-agents)` : `${agent} cannot be run: ${code ?? (e as Error).message}`,
    );
  }
}
