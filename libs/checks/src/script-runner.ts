/**
 * Runs a script as keepalived does: argv split from the command line (no
 * shell), as a given user and group, in its own process group, killed with
 * SIGTERM at its timeout and SIGKILL two seconds later (keepalived notify.c
 * system_call_script, vrrp_scheduler.c vrrp_script_child_thread).
 *
 * Before a script ever runs, prepareScript() resolves it once and applies
 * keepalived's checks (notify.c check_script_secure / check_security): the
 * file must exist and be executable by the user that runs it, and when that
 * user is root, no part of its path may be writable by anyone but root. Under
 * `enable_script_security` such a script is refused; without it, it is a warning.
 */
import { spawn, execFile } from 'node:child_process';
import { promises as fs, type Stats } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { KqError, type SourceLocation } from '../../common/src/errors.js';
import { monotonicMs } from '../../common/src/clock.js';
import { runAtStartingNice } from '../../common/src/thread-priority.js';
import { splitCommandLine } from '../../config/src/keepalived/lexer.js';

const execFileAsync = promisify(execFile);

/** Who a script runs as. */
export interface RunAs {
  uid: number;
  gid: number;
  /** For messages: the name it was given by, or the number. */
  user: string;
  group: string;
}

/** A script resolved and checked once, ready to run any number of times. */
export interface PreparedScript {
  /** What the user wrote. */
  command: string;
  /** argv[0] is the resolved path of the executable. */
  argv: readonly string[];
  runAs: RunAs;
  /** Problems keepalived only logs (unsafe permissions without enable_script_security, PATH search). */
  warnings: string[];
}

export interface ScriptResult {
  /** Exited 0 within its timeout. */
  ok: boolean;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  durationMs: number;
  /** The first bytes of stdout and stderr, as they came. */
  output: string;
  /** Why it could not run at all (spawn error), when that happened. */
  error?: string;
}

export interface RunScriptOptions {
  /** keepalived: the vrrp_script `timeout`, default its interval. */
  timeoutMs: number;
  /** Between SIGTERM and SIGKILL; keepalived waits 2 s. */
  killGraceMs?: number;
  /** How much output to keep. Default 200 bytes. */
  outputBytes?: number;
  /** Appended to argv (notify's TYPE NAME STATE PRIORITY). */
  extraArgs?: readonly string[];
  /** Aborting stops the script as a timeout does (SIGTERM, then SIGKILL). */
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

export const DEFAULT_KILL_GRACE_MS = 2000;
export const DEFAULT_OUTPUT_BYTES = 200;
/** keepalived's default script user when it exists. */
export const KEEPALIVED_SCRIPT_USER = 'keepalived_script';
const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const S_IXUSR = 0o100;
const S_IXGRP = 0o010;
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

// ---------------------------------------------------------------------------
// Users and groups

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

async function getent(database: 'passwd' | 'group', key: string): Promise<string[] | undefined> {
  try {
    const { stdout } = await execFileAsync('getent', [database, key]);
    const line = stdout.split('\n')[0];
    return line ? line.split(':') : undefined;
  } catch (e) {
    // getent exits 2 for "not found"; anything else (no getent) is as good as not found here.
    const code = (e as { code?: unknown }).code;
    if (code === 2 || code === 'ENOENT') return undefined;
    throw e;
  }
}

async function lookupUser(user: string): Promise<PasswdEntry | undefined> {
  const fields = await getent('passwd', user);
  if (!fields || fields.length < 4) return undefined;
  return { name: fields[0]!, uid: Number(fields[2]), gid: Number(fields[3]) };
}

async function lookupGroup(group: string): Promise<{ name: string; gid: number } | undefined> {
  const fields = await getent('group', group);
  if (!fields || fields.length < 3) return undefined;
  return { name: fields[0]!, gid: Number(fields[2]) };
}

const NUMERIC = /^\d+$/;

/**
 * A user (and group) by name (from /etc/passwd and /etc/group through getent,
 * so NSS sources count too) or by number. Without a group, the user's primary
 * group, as keepalived does.
 */
export async function resolveRunAs(user: string, group?: string, location?: SourceLocation): Promise<RunAs> {
  let uid: number;
  let gid: number | undefined;
  let userName = user;
  const entry = await lookupUser(user);
  if (entry) {
    uid = entry.uid;
    gid = entry.gid;
    userName = entry.name;
  } else if (NUMERIC.test(user)) {
    uid = Number(user);
  } else {
    throw new KqError('KQ_ERR_SCRIPT_USER', `script user '${user}' does not exist; expected a user in /etc/passwd or a numeric uid`, location);
  }
  let groupName = gid !== undefined ? String(gid) : String(uid);
  if (group !== undefined) {
    const g = await lookupGroup(group);
    if (g) {
      gid = g.gid;
      groupName = g.name;
    } else if (NUMERIC.test(group)) {
      gid = Number(group);
      groupName = group;
    } else {
      throw new KqError('KQ_ERR_SCRIPT_USER', `script group '${group}' does not exist; expected a group in /etc/group or a numeric gid`, location);
    }
  } else if (gid !== undefined) {
    const g = await getent('group', String(gid));
    if (g?.[0]) groupName = g[0];
  }
  // A numeric uid with no passwd entry and no group: its own number, as `chown 1234` would leave it.
  gid ??= uid;
  return { uid, gid, user: userName, group: groupName };
}

/** This process's own user: what a script runs as when nothing else is said and we are not root. */
function currentRunAs(): RunAs {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  return { uid, gid, user: String(uid), group: String(gid) };
}

/**
 * keepalived's default script user: `keepalived_script` if that user exists,
 * else root. (Not being root ourselves, our own user: we cannot become anyone else.)
 */
export async function defaultScriptRunAs(): Promise<RunAs> {
  if ((process.getuid?.() ?? 0) !== 0) return currentRunAs();
  const entry = await lookupUser(KEEPALIVED_SCRIPT_USER);
  if (entry) return resolveRunAs(KEEPALIVED_SCRIPT_USER);
  return { uid: 0, gid: 0, user: 'root', group: 'root' };
}

// ---------------------------------------------------------------------------
// Resolving and checking a script

export interface ScriptSecurityOptions {
  /** keepalived `enable_script_security`: refuse, rather than warn about, a root script others can modify. */
  enableScriptSecurity: boolean;
  /** Where the script was configured, for messages. */
  location?: SourceLocation;
  /** Names the script in messages: "vrrp_script check_nginx", "notify_master of VI_1". */
  what?: string;
  /** PATH for a bare command name. Default: this process's PATH. */
  pathEnv?: string;
}

function mode(st: Stats): string {
  return '0' + (st.mode & 0o7777).toString(8).padStart(3, '0');
}

function who(runAs: RunAs): string {
  return `user ${runAs.user} (uid ${runAs.uid}, gid ${runAs.gid})`;
}

/** keepalived notify.c is_executable: root needs any x bit; otherwise owner, group or other bits as for open(2). */
export function isExecutableBy(st: Pick<Stats, 'mode' | 'uid' | 'gid'>, uid: number, gid: number): boolean {
  const m = st.mode;
  if (uid === 0) return (m & 0o111) !== 0;
  if (uid === st.uid) return (m & 0o100) !== 0;
  if (gid === st.gid) return (m & 0o010) !== 0;
  return (m & 0o001) !== 0;
}

function isNotFound(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP';
}

async function searchPath(name: string, runAs: RunAs, pathEnv: string): Promise<string | undefined> {
  for (const dir of pathEnv.split(':')) {
    const candidate = join(dir === '' ? '.' : dir, name);
    try {
      const st = await fs.stat(candidate);
      if (st.isFile() && isExecutableBy(st, runAs.uid, runAs.gid)) return resolve(candidate);
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** "/", "/usr", "/usr/bin", "/usr/bin/x": every prefix of an absolute path, as keepalived walks it. */
function pathPrefixes(path: string): string[] {
  const parts = path.split(sep).filter((p) => p.length > 0);
  const out = ['/'];
  let acc = '';
  for (const p of parts) {
    acc += `/${p}`;
    out.push(acc);
  }
  return out;
}

/**
 * keepalived notify.c check_security: walking the path from "/", every
 * directory and the file itself must be owned by root, and neither writable
 * by a non-root group nor by everyone (a directory with the sticky bit, as
 * /tmp, may be). Returns one line per offending part.
 */
export async function unsafePathParts(path: string): Promise<string[]> {
  const problems: string[] = [];
  const prefixes = pathPrefixes(path);
  for (let i = 0; i < prefixes.length; i++) {
    const part = prefixes[i]!;
    const last = i === prefixes.length - 1;
    const st = await fs.lstat(part);
    const kind = st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symbolic link' : 'file';
    if (!last && !st.isDirectory()) {
      problems.push(`${part} is a ${kind}, not a directory`);
      continue;
    }
    if (last && !st.isFile() && !st.isSymbolicLink()) {
      problems.push(`${part} is a ${kind}, not a file`);
      continue;
    }
    if (st.uid !== 0) problems.push(`${kind} ${part} is owned by uid ${st.uid}, not root`);
    const writableKind = (st.isDirectory() && (st.mode & 0o1000) === 0) || st.isFile();
    if (writableKind) {
      const stickyNote = st.isDirectory() ? ', no sticky bit' : '';
      if (st.mode & 0o002) problems.push(`${kind} ${part} is writable by everyone (mode ${mode(st)}${stickyNote})`);
      else if (st.gid !== 0 && st.mode & 0o020) problems.push(`${kind} ${part} is writable by group ${st.gid} (mode ${mode(st)}${stickyNote})`);
    }
  }
  return problems;
}

/**
 * Resolves a command line to the program it runs and applies keepalived's
 * checks. Throws KqError: KQ_ERR_CONFIG_VALUE (the command line does not
 * split), KQ_ERR_SCRIPT_NOT_FOUND, KQ_ERR_SCRIPT_NOT_EXECUTABLE,
 * KQ_ERR_SCRIPT_INSECURE (enable_script_security and a root script that a
 * non-root user could modify).
 */
export async function checkScript(command: string, runAs: RunAs, options: ScriptSecurityOptions): Promise<PreparedScript> {
  const what = options.what ? ` (${options.what})` : '';
  const loc = options.location;
  let argv: string[];
  try {
    argv = splitCommandLine(command);
  } catch (e) {
    throw new KqError('KQ_ERR_CONFIG_VALUE', `script${what}: ${(e as Error).message}`, loc);
  }
  const program = argv[0];
  if (program === undefined || program === '') throw new KqError('KQ_ERR_CONFIG_VALUE', `script${what} is empty; expected a command line`, loc);
  const warnings: string[] = [];

  let given: string;
  if (!program.includes('/')) {
    const pathEnv = options.pathEnv ?? process.env['PATH'] ?? DEFAULT_PATH;
    const found = await searchPath(program, runAs, pathEnv);
    if (!found) {
      throw new KqError(
        'KQ_ERR_SCRIPT_NOT_FOUND',
        `script '${program}'${what} is not found in PATH (${pathEnv}) as an executable for ${who(runAs)}; give its full path`,
        loc,
      );
    }
    warnings.push(`script '${program}'${what} resolved by PATH search to ${found}; give the full path`);
    given = found;
  } else {
    given = isAbsolute(program) ? program : resolve(program);
  }

  let real: string;
  try {
    real = await fs.realpath(given);
  } catch (e) {
    if (isNotFound(e)) throw new KqError('KQ_ERR_SCRIPT_NOT_FOUND', `script ${given}${what} does not exist; expected an executable file`, loc);
    throw new KqError('KQ_ERR_SCRIPT_NOT_FOUND', `script ${given}${what} cannot be accessed: ${(e as Error).message}`, loc);
  }
  // keepalived keeps the name as written (some programs act on their own
  // name) when the resolved directory holds that name for the same file.
  const file = await fs.stat(real);
  let runPath = real;
  const sameName = join(dirname(real), basename(given));
  if (sameName !== real) {
    try {
      const viaName = await fs.stat(sameName);
      if (viaName.ino === file.ino && viaName.dev === file.dev) runPath = sameName;
    } catch {
      // not there: run the resolved file
    }
  }
  if (!file.isFile()) {
    throw new KqError('KQ_ERR_SCRIPT_NOT_EXECUTABLE', `script ${given}${what} is a ${file.isDirectory() ? 'directory' : 'special file'}, not a file`, loc);
  }
  // The user must be able to reach it: search permission on every directory
  // (root passes any directory, CAP_DAC_READ_SEARCH).
  for (const dir of runAs.uid === 0 ? [] : pathPrefixes(dirname(real))) {
    const st = await fs.stat(dir);
    if (!isExecutableBy(st, runAs.uid, runAs.gid)) {
      throw new KqError(
        'KQ_ERR_SCRIPT_NOT_EXECUTABLE',
        `script ${given}${what} cannot be reached by ${who(runAs)}: directory ${dir} (mode ${mode(st)}, owner ${st.uid}:${st.gid}) does not let it in`,
        loc,
      );
    }
  }
  if (!isExecutableBy(file, runAs.uid, runAs.gid)) {
    throw new KqError(
      'KQ_ERR_SCRIPT_NOT_EXECUTABLE',
      `script ${given}${what} is not executable by ${who(runAs)} (mode ${mode(file)}, owner ${file.uid}:${file.gid}); chmod +x it or run it as another user`,
      loc,
    );
  }

  // keepalived protects only what runs with root's power: as root, in group
  // root, or a setuid/setgid-root file.
  const asRoot =
    runAs.uid === 0 ||
    runAs.gid === 0 ||
    (file.uid === 0 && (file.mode & S_IXUSR) !== 0 && (file.mode & S_ISUID) !== 0) ||
    (file.gid === 0 && (file.mode & S_IXGRP) !== 0 && (file.mode & S_ISGID) !== 0);
  if (asRoot) {
    const problems = await unsafePathParts(runPath);
    if (real !== runPath) for (const p of await unsafePathParts(real)) if (!problems.includes(p)) problems.push(p);
    if (problems.length > 0) {
      const summary = `script ${given}${what} would run as root, but ${problems.join('; ')}`;
      if (options.enableScriptSecurity) {
        throw new KqError(
          'KQ_ERR_SCRIPT_INSECURE',
          `${summary}. enable_script_security refuses it: make the file and every directory above it owned by root and writable only by root, or run it as another user (script_user, or user in the script)`,
          loc,
        );
      }
      warnings.push(`${summary} (unsafe permissions; enable_script_security would refuse it)`);
    }
  }
  return { command, argv: [runPath, ...argv.slice(1)], runAs, warnings };
}

export interface ScriptUserConfig {
  /** The script's own user (vrrp_script `user`, notify's `user`). */
  user?: string | undefined;
  group?: string | undefined;
}

export interface ScriptGlobals {
  /** global_defs script_user. */
  scriptUser?: { user: string; group?: string | undefined } | undefined;
  enableScriptSecurity: boolean;
}

/**
 * The user a script runs as (its own `user`, else `script_user`, else
 * keepalived_script or root), then checkScript().
 */
export async function prepareScript(
  command: string,
  own: ScriptUserConfig,
  globals: ScriptGlobals,
  context: { what?: string; location?: SourceLocation; pathEnv?: string } = {},
): Promise<PreparedScript> {
  let runAs: RunAs;
  if (own.user !== undefined) runAs = await resolveRunAs(own.user, own.group, context.location);
  else if (globals.scriptUser) runAs = await resolveRunAs(globals.scriptUser.user, globals.scriptUser.group, context.location);
  else runAs = await defaultScriptRunAs();
  const options: ScriptSecurityOptions = { enableScriptSecurity: globals.enableScriptSecurity };
  if (context.what !== undefined) options.what = context.what;
  if (context.location !== undefined) options.location = context.location;
  if (context.pathEnv !== undefined) options.pathEnv = context.pathEnv;
  return checkScript(command, runAs, options);
}

// ---------------------------------------------------------------------------
// Running

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    // Negative pid: the whole process group the script leads, so what it started goes too.
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already
    }
  }
}

/**
 * Runs a prepared script (or a bare argv) once. Never throws for a script
 * that fails, hangs, or cannot start: that is a result with ok false.
 */
export function runScript(
  script: { argv: readonly string[]; runAs?: RunAs | undefined },
  options: RunScriptOptions,
): Promise<ScriptResult> {
  const started = monotonicMs();
  const limit = options.outputBytes ?? DEFAULT_OUTPUT_BYTES;
  const grace = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const argv = [...script.argv, ...(options.extraArgs ?? [])];
  const chunks: Buffer[] = [];
  let kept = 0;

  return new Promise<ScriptResult>((resolvePromise) => {
    let settled = false;
    let timedOut = false;
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
      const result: ScriptResult = {
        ok: !timedOut && error === undefined && exitCode === 0,
        exitCode,
        signal,
        timedOut,
        durationMs: monotonicMs() - started,
        output: Buffer.concat(chunks).toString('utf8'),
      };
      if (error !== undefined) result.error = error;
      resolvePromise(result);
    };

    const spawnOptions: Parameters<typeof spawn>[2] = {
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group (setsid), as keepalived's setpgid(0, 0): a timeout kills what it started too.
      detached: true,
      env: options.env ?? process.env,
    };
    const runAs = script.runAs;
    // Only ask for a uid/gid change that is one: a non-root agent can still run scripts as itself.
    if (runAs && runAs.uid !== process.getuid?.()) spawnOptions.uid = runAs.uid;
    if (runAs && (runAs.gid !== process.getgid?.() || spawnOptions.uid !== undefined)) spawnOptions.gid = runAs.gid;

    const program = argv[0];
    if (program === undefined) {
      finish(null, null, 'empty command line');
      return;
    }
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(program, argv.slice(1), spawnOptions);
      // Not at the agent's raised VRRP-thread priority (libs/common/src/thread-priority.ts).
      runAtStartingNice(child.pid);
    } catch (e) {
      finish(null, null, `cannot start ${program}: ${(e as Error).message}`);
      return;
    }

    const collect = (data: Buffer): void => {
      if (kept >= limit) return;
      const piece = data.subarray(0, limit - kept);
      chunks.push(piece);
      kept += piece.length;
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);

    const stop = (): void => {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      timedOut = true;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => {
        if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      }, grace);
    };
    function onAbort(): void {
      stop();
    }

    termTimer = setTimeout(stop, options.timeoutMs);
    if (options.signal?.aborted) stop();
    else options.signal?.addEventListener('abort', onAbort, { once: true });

    child.on('error', (e: NodeJS.ErrnoException) => {
      finish(null, null, `cannot start ${program}: ${e.code ?? ''} ${e.message}`.trim());
    });
    child.on('exit', (code, signal) => {
      clearTimeout(termTimer);
      // keepalived: once a script we terminated is gone, SIGKILL its group so nothing it started lingers.
      if (timedOut && child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      // A grandchild may hold stdout open past the script's end: read what is
      // there, but do not wait for it.
      drainTimer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish(code, signal);
      }, 50);
    });
    child.on('close', (code, signal) => finish(code, signal));
  });
}
