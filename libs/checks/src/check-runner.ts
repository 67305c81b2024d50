/**
 * Runs one check (a script or a probe) every interval and feeds the tracker.
 *
 * As keepalived's vrrp_script (vrrp_scheduler.c vrrp_script_thread): the
 * first run starts at once, the next ones on the interval's ticks, counted
 * from the start of a run; a run still going on at a tick makes that tick
 * pass without a run ("already running - skipping run"), so a slow script
 * delays the next run to the first tick after it ends and never runs twice
 * at once.
 */
import { initialTracker, trackerStep, type TrackerState, type TrackStatus } from './tracker.js';
import { prepareScript, runScript, type PreparedScript, type RunScriptOptions, type ScriptGlobals } from './script-runner.js';
import { probeHttp, probeIcmp, probeTcp, type HttpProbeOptions, type IcmpProbeOptions, type TcpProbeOptions } from './probes.js';
import { monotonicMs } from '../../common/src/clock.js';
import type { TrackScriptConfig } from '../../config/src/model.js';

/** What one run of a check says. */
export interface CheckOutcome {
  ok: boolean;
  latencyMs: number;
  /** A script's first output bytes, or a probe's detail. */
  output: string;
}

/** One run; aborting the signal means the runner stops and the run should end soon. */
export type CheckFn = (signal: AbortSignal) => Promise<CheckOutcome>;

export interface CheckDefinition {
  name: string;
  intervalMs: number;
  rise: number;
  fall: number;
  initFail?: boolean;
  run: CheckFn;
}

export interface CheckResultEvent {
  name: string;
  ok: boolean;
  latencyMs: number;
  output: string;
  /** The tracker's verdict after this result. */
  good: boolean;
  status: TrackStatus;
  /** This result changed the verdict. */
  changed: boolean;
  reason: string;
}

/** The runner's clock and timers, injected so tests need not wait. */
export interface CheckTimers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: CheckTimers = {
  now: monotonicMs,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface CheckRunnerOptions {
  onResult: (event: CheckResultEvent) => void;
  /** A run that threw (a CheckFn should not) is counted as a failure and reported here. */
  onError?: (error: unknown) => void;
  timers?: CheckTimers;
}

export class CheckRunner {
  private tracker: TrackerState;
  private readonly timers: CheckTimers;
  private timer: unknown;
  private running: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private started = false;
  /** Ticks that passed while a run was still going on. */
  skippedTicks = 0;
  /** Runs started so far. */
  runs = 0;

  constructor(
    readonly definition: CheckDefinition,
    private readonly options: CheckRunnerOptions,
  ) {
    if (!(definition.intervalMs > 0)) throw new RangeError(`${definition.name}: the interval must be positive, not ${definition.intervalMs}`);
    const trackerConfig: Parameters<typeof initialTracker>[0] = { name: definition.name, rise: definition.rise, fall: definition.fall };
    if (definition.initFail !== undefined) trackerConfig.initFail = definition.initFail;
    this.tracker = initialTracker(trackerConfig);
    this.timers = options.timers ?? realTimers;
  }

  get state(): TrackerState {
    return this.tracker;
  }

  get isRunning(): boolean {
    return this.running !== undefined;
  }

  /** First run at once, then every interval. Starting twice does nothing. */
  start(): void {
    if (this.started) return;
    this.started = true;
    // Restarted while a stopped run still ends: the next run follows it, never overlaps it.
    if (this.running) return;
    this.runAt(this.timers.now());
  }

  /** No further runs; an ongoing run is told to stop and awaited, its result dropped. */
  async stop(): Promise<void> {
    this.started = false;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.abort?.abort();
    await this.running;
  }

  private runAt(startedAt: number): void {
    if (!this.started) return;
    this.runs++;
    const abort = new AbortController();
    this.abort = abort;
    this.running = this.once(abort.signal).finally(() => {
      this.running = undefined;
      this.abort = undefined;
      this.scheduleAfter(startedAt);
    });
  }

  private scheduleAfter(startedAt: number): void {
    if (!this.started) return;
    const interval = this.definition.intervalMs;
    const now = this.timers.now();
    // The first tick after now; ticks that fell inside the run are skipped, as keepalived's are.
    let ticks = Math.max(1, Math.ceil((now - startedAt) / interval));
    if (startedAt + ticks * interval < now) ticks++;
    this.skippedTicks += ticks - 1;
    const next = startedAt + ticks * interval;
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.runAt(next);
    }, Math.max(0, next - now));
  }

  private async once(signal: AbortSignal): Promise<void> {
    let outcome: CheckOutcome;
    try {
      outcome = await this.definition.run(signal);
    } catch (e) {
      this.options.onError?.(e);
      outcome = { ok: false, latencyMs: 0, output: `check threw: ${(e as Error)?.message ?? String(e)}` };
    }
    if (signal.aborted) return;
    const step = trackerStep(this.tracker, outcome.ok);
    this.tracker = step.state;
    this.options.onResult({
      name: this.definition.name,
      ok: outcome.ok,
      latencyMs: outcome.latencyMs,
      output: outcome.output,
      good: step.good,
      status: step.state.status,
      changed: step.changed,
      reason: step.reason,
    });
  }
}

// ---------------------------------------------------------------------------
// Check functions for each kind

/** A prepared script as a check: exit 0 within the timeout is success. */
export function scriptCheck(script: PreparedScript, options: Omit<RunScriptOptions, 'signal'>): CheckFn {
  return async (signal) => {
    const result = await runScript(script, { ...options, signal });
    let output = result.output;
    if (!result.ok) {
      const why = result.error ?? (result.timedOut ? `timed out after ${options.timeoutMs} ms` : result.signal ? `killed by ${result.signal}` : `exit code ${result.exitCode}`);
      output = output.length > 0 ? `${why}: ${output}` : why;
    }
    return { ok: result.ok, latencyMs: result.durationMs, output };
  };
}

export function icmpCheck(options: IcmpProbeOptions): CheckFn {
  return async () => {
    const r = await probeIcmp(options);
    return { ok: r.ok, latencyMs: r.latencyMs, output: r.detail };
  };
}

export function tcpCheck(options: TcpProbeOptions): CheckFn {
  return async () => {
    const r = await probeTcp(options);
    return { ok: r.ok, latencyMs: r.latencyMs, output: r.detail };
  };
}

export function httpCheck(options: HttpProbeOptions): CheckFn {
  return async () => {
    const r = await probeHttp(options);
    return { ok: r.ok, latencyMs: r.latencyMs, output: r.detail };
  };
}

/**
 * A tracked check as configured: a keepalived vrrp_script (the script resolved
 * and checked once: user, PATH, permissions, enable_script_security; throws
 * its KqError) or a built-in probe, with interval, timeout (default the
 * interval), rise, fall and init_fail as configured.
 */
export async function trackScriptCheck(
  name: string,
  config: TrackScriptConfig,
  globals: ScriptGlobals,
  options: { killGraceMs?: number; outputBytes?: number; pathEnv?: string } = {},
): Promise<{ definition: CheckDefinition; script: PreparedScript | undefined }> {
  const timeoutMs = config.timeoutS * 1000;
  const definition = (run: CheckFn): CheckDefinition => ({
    name,
    intervalMs: config.intervalS * 1000,
    rise: config.rise,
    fall: config.fall,
    initFail: config.initFail,
    run,
  });
  if (config.icmp) {
    const o: IcmpProbeOptions = { address: config.icmp.address, timeoutMs };
    if (config.icmp.device !== undefined) o.device = config.icmp.device;
    return { definition: definition(icmpCheck(o)), script: undefined };
  }
  if (config.tcp) {
    const o: TcpProbeOptions = { address: config.tcp.address, port: config.tcp.port, timeoutMs };
    if (config.tcp.sourceAddress !== undefined) o.sourceAddress = config.tcp.sourceAddress;
    return { definition: definition(tcpCheck(o)), script: undefined };
  }
  if (config.http) {
    const h = config.http;
    const o: HttpProbeOptions = { address: h.address, tls: h.tls, verifyTls: h.verifyTls, path: h.path, timeoutMs };
    if (h.port !== undefined) o.port = h.port;
    if (h.virtualHost !== undefined) o.virtualHost = h.virtualHost;
    if (h.statusCodes !== undefined) o.statusCodes = h.statusCodes;
    if (h.digest !== undefined) o.digest = h.digest;
    return { definition: definition(httpCheck(o)), script: undefined };
  }
  if (config.script === undefined) throw new RangeError(`check ${name}: neither a script nor a probe`);
  const context: Parameters<typeof prepareScript>[3] = { what: `vrrp_script ${name}` };
  if (config.source) context.location = { file: config.source.file, line: config.source.line, key: 'script' };
  if (options.pathEnv !== undefined) context.pathEnv = options.pathEnv;
  const script = await prepareScript(config.script, { user: config.user, group: config.group }, globals, context);
  const runOptions: Omit<RunScriptOptions, 'signal'> = { timeoutMs };
  if (options.killGraceMs !== undefined) runOptions.killGraceMs = options.killGraceMs;
  if (options.outputBytes !== undefined) runOptions.outputBytes = options.outputBytes;
  return { definition: definition(scriptCheck(script, runOptions)), script };
}
