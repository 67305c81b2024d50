/**
 * Notify scripts with keepalived's arguments (vrrp_notify.c): on a transition
 * the state's own script (notify_master / notify_backup / notify_fault /
 * notify_stop) runs as written, then the generic `notify` script with
 * TYPE NAME STATE PRIORITY appended: "INSTANCE" or "GROUP", the name,
 * MASTER / BACKUP / FAULT / STOP, and the effective priority (0 for a group).
 *
 * keepalived forks them and does not wait, so two transitions in quick
 * succession may see their scripts run in any order. Here each instance (and
 * each sync group) has a queue: its scripts run one at a time, in transition
 * order, each with a timeout.
 */
import type { SourceLocation } from '../../common/src/errors.js';
import type { NotifyCommand, NotifyConfig, SourceRef } from '../../config/src/model.js';
import { prepareScript, runScript, DEFAULT_KILL_GRACE_MS, type PreparedScript, type RunScriptOptions, type ScriptGlobals, type ScriptResult } from './script-runner.js';

export type NotifyState = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP';
export type NotifyType = 'INSTANCE' | 'GROUP';

export interface NotifyTransition {
  type: NotifyType;
  /** The instance or sync group name. */
  name: string;
  state: NotifyState;
  /** The effective priority; a group's is always passed as 0, as keepalived does. */
  priority: number;
}

export type NotifyKey = 'master' | 'backup' | 'fault' | 'stop' | 'any';

/** The notify scripts of one instance or group, resolved and checked. */
export type PreparedNotify = Partial<Record<NotifyKey, PreparedScript>>;

const KEYWORD: Record<NotifyKey, string> = {
  master: 'notify_master',
  backup: 'notify_backup',
  fault: 'notify_fault',
  stop: 'notify_stop',
  any: 'notify',
};

const STATE_KEY: Record<NotifyState, NotifyKey> = { MASTER: 'master', BACKUP: 'backup', FAULT: 'fault', STOP: 'stop' };

/**
 * Resolves and checks every notify script of an instance or group once
 * (user, PATH, permissions, enable_script_security). Throws the first
 * KqError found: a script that would be refused is refused at start.
 */
export async function prepareNotify(
  config: NotifyConfig,
  globals: ScriptGlobals,
  context: { owner: string; source?: SourceRef | undefined; pathEnv?: string },
): Promise<{ prepared: PreparedNotify; warnings: string[] }> {
  const prepared: PreparedNotify = {};
  const warnings: string[] = [];
  for (const key of Object.keys(KEYWORD) as NotifyKey[]) {
    const command: NotifyCommand | undefined = config[key];
    if (!command) continue;
    const location: SourceLocation | undefined = context.source ? { file: context.source.file, line: context.source.line, key: KEYWORD[key] } : undefined;
    const scriptContext: Parameters<typeof prepareScript>[3] = { what: `${KEYWORD[key]} of ${context.owner}` };
    if (location) scriptContext.location = location;
    if (context.pathEnv !== undefined) scriptContext.pathEnv = context.pathEnv;
    const script = await prepareScript(command.command, { user: command.user, group: command.group }, globals, scriptContext);
    prepared[key] = script;
    warnings.push(...script.warnings);
  }
  return { prepared, warnings };
}

/** The four arguments keepalived appends to the generic `notify` script. */
export function notifyArguments(t: NotifyTransition): string[] {
  return [t.type, t.name, t.state, String(t.type === 'GROUP' ? 0 : t.priority)];
}

export interface NotifyInvocation {
  key: NotifyKey;
  script: PreparedScript;
  extraArgs: string[];
}

/** Which scripts a transition runs, in keepalived's order: the state's own script, then `notify`. Pure. */
export function notifyInvocations(prepared: PreparedNotify, t: NotifyTransition): NotifyInvocation[] {
  const out: NotifyInvocation[] = [];
  const own = prepared[STATE_KEY[t.state]];
  if (own) out.push({ key: STATE_KEY[t.state], script: own, extraArgs: [] });
  if (prepared.any) out.push({ key: 'any', script: prepared.any, extraArgs: notifyArguments(t) });
  return out;
}

export interface NotifyRunEvent {
  transition: NotifyTransition;
  key: NotifyKey;
  argv: string[];
  result: ScriptResult;
}

export interface NotifierOptions {
  /** Per script. Default 30 s; keepalived gives notify_stop 1 s and the others no limit. */
  timeoutMs?: number;
  killGraceMs?: number;
  /** Every script run, in order: for logs and events. */
  onRun?: (event: NotifyRunEvent) => void;
  /** How a script runs (tests may record instead). */
  run?: (script: PreparedScript, options: RunScriptOptions) => Promise<ScriptResult>;
}

export const DEFAULT_NOTIFY_TIMEOUT_MS = 30_000;

/** One queue per instance or group; see the file comment. */
export class Notifier {
  private readonly queues = new Map<string, Promise<void>>();
  private readonly depth = new Map<string, number>();
  private closed = false;
  private readonly aborter = new AbortController();

  constructor(private readonly options: NotifierOptions = {}) {}

  private static queueKey(t: NotifyTransition): string {
    return `${t.type}\0${t.name}`;
  }

  /**
   * Queues the scripts of a transition behind those of earlier transitions of
   * the same instance or group. Resolves once they have run; never rejects.
   */
  notify(prepared: PreparedNotify, transition: NotifyTransition): Promise<void> {
    const invocations = notifyInvocations(prepared, transition);
    if (invocations.length === 0 || this.closed) return Promise.resolve();
    const key = Notifier.queueKey(transition);
    const t = { ...transition };
    this.depth.set(key, (this.depth.get(key) ?? 0) + 1);
    const previous = this.queues.get(key) ?? Promise.resolve();
    const next = previous.then(async () => {
      try {
        for (const inv of invocations) await this.runOne(t, inv);
      } finally {
        const left = (this.depth.get(key) ?? 1) - 1;
        if (left === 0) {
          this.depth.delete(key);
          if (this.queues.get(key) === next) this.queues.delete(key);
        } else {
          this.depth.set(key, left);
        }
      }
    });
    this.queues.set(key, next);
    return next;
  }

  private async runOne(transition: NotifyTransition, inv: NotifyInvocation): Promise<void> {
    const run = this.options.run ?? runScript;
    const runOptions: RunScriptOptions = {
      timeoutMs: this.options.timeoutMs ?? DEFAULT_NOTIFY_TIMEOUT_MS,
      killGraceMs: this.options.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
      extraArgs: inv.extraArgs,
      signal: this.aborter.signal,
    };
    let result: ScriptResult;
    try {
      result = await run(inv.script, runOptions);
    } catch (e) {
      result = { ok: false, exitCode: null, signal: null, timedOut: false, durationMs: 0, output: '', error: (e as Error)?.message ?? String(e) };
    }
    try {
      this.options.onRun?.({ transition, key: inv.key, argv: [...inv.script.argv, ...inv.extraArgs], result });
    } catch {
      // a listener's failure is not a script's failure
    }
  }

  /** Transitions queued or running for an instance or group. */
  pending(type: NotifyType, name: string): number {
    return this.depth.get(`${type}\0${name}`) ?? 0;
  }

  /** Resolves when every queue is empty. */
  async idle(): Promise<void> {
    while (this.queues.size > 0) await Promise.all([...this.queues.values()]);
  }

  /**
   * No new transitions; with `abort`, running scripts are stopped (SIGTERM,
   * then SIGKILL) and queued ones skipped quickly. Resolves when all ended.
   */
  async close(options: { abort?: boolean } = {}): Promise<void> {
    this.closed = true;
    if (options.abort) this.aborter.abort();
    await this.idle();
  }
}
