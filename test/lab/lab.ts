/**
 * The lab: a datacenter segment on one machine (see ../shared/design/LAB.md).
 *
 * Network namespaces joined by veth pairs to a bridge that lives in its own
 * namespace (the "switch"). Every name carries one run-unique prefix, so two
 * runs never collide and teardown removes exactly its own. Addresses are only
 * from 198.18.0.0/15 and fd00:198:18::/48.
 */
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, createWriteStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const execFileAsync = promisify(execFile);

/** Where runs record their owner pid, so a later run can sweep what a killed run left. */
const OWNERS_DIR = '/run/keepquorum-lab';

export interface HostSpec {
  /** Short name, e.g. "a1", "gw", "cl". The namespace is `<prefix>-<name>`. */
  name: string;
  /** IPv4 address on eth0, inside 198.18.0.0/15, prefix length 16. */
  ipv4: string;
  /** Optional IPv6 address on eth0, inside fd00:198:18::/48, prefix length 64. */
  ipv6?: string;
  /** Accept gratuitous ARP that creates neighbour entries (a client that watches GARP). */
  arpAccept?: boolean;
}

export class LabError extends Error {}

/** Why this process cannot build a lab, or undefined when it can. Tests skip with this reason. */
export function labUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return 'the lab needs Linux network namespaces';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return 'the lab needs root (CAP_NET_ADMIN, CAP_NET_RAW) to create network namespaces';
  }
  if (!existsSync('/usr/sbin/ip') && !existsSync('/sbin/ip') && !existsSync('/usr/bin/ip')) {
    return 'iproute2 (ip) is not installed';
  }
  return undefined;
}

export async function run(cmd: string, args: string[], opts: { allowFail?: boolean; input?: string } = {}): Promise<string> {
  try {
    if (opts.input !== undefined) {
      return await new Promise<string>((resolve, reject) => {
        const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => (code === 0 ? resolve(out) : reject(new LabError(`${cmd} ${args.join(' ')}: exit ${code}: ${err.trim()}`))));
        child.stdin.end(opts.input);
      });
    }
    const { stdout } = await execFileAsync(cmd, args, { maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (e) {
    if (opts.allowFail) return '';
    if (e instanceof LabError) throw e;
    const err = e as { stderr?: string; message: string };
    throw new LabError(`${cmd} ${args.join(' ')}: ${(err.stderr ?? err.message).trim()}`);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function listNamespaces(): Promise<string[]> {
  const out = await run('ip', ['netns', 'list'], { allowFail: true });
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.length > 0);
}

async function killNamespacePids(ns: string, signal: NodeJS.Signals = 'SIGKILL', spare: ReadonlySet<number> = new Set()): Promise<number[]> {
  const out = await run('ip', ['netns', 'pids', ns], { allowFail: true });
  const pids = out
    .split('\n')
    .map((s) => Number.parseInt(s, 10))
    .filter((n) => Number.isInteger(n) && n > 0 && n !== process.pid && !spare.has(n));
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
  return pids;
}

/** Remove what runs that died without cleaning up left behind (their owner pid is gone). */
export async function sweepStaleLabs(): Promise<string[]> {
  if (!existsSync(OWNERS_DIR)) return [];
  const removed: string[] = [];
  const namespaces = await listNamespaces();
  for (const file of readdirSync(OWNERS_DIR)) {
    const prefix = file.replace(/\.owner$/, '');
    const pid = Number.parseInt(readFileSync(join(OWNERS_DIR, file), 'utf8'), 10);
    if (Number.isInteger(pid) && pidAlive(pid)) continue;
    for (const ns of namespaces.filter((n) => n.startsWith(`${prefix}-`))) {
      await killNamespacePids(ns);
      await run('ip', ['netns', 'del', ns], { allowFail: true });
      removed.push(ns);
    }
    rmSync(join(OWNERS_DIR, file), { force: true });
  }
  return removed;
}

export interface SpawnOptions {
  /** Environment added to the child's. */
  env?: Record<string, string>;
  /** Collect stdout lines in memory (for small protocol-like outputs). */
  captureStdout?: boolean;
  cwd?: string;
  /**
   * The test's own instrument (a VIP sampler), not part of the host: it survives
   * powerOff(), as a probe outside a real server would, so it can report that a
   * powered-off host no longer holds the VIP and what it holds after powerOn().
   */
  observer?: boolean;
  /** A pipe to the child's stdin (LabProcess.write), for a control channel. Default: none. */
  stdin?: boolean;
}

/** A process running inside one of the lab's namespaces. */
export class LabProcess {
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private lineListeners: Array<(line: string) => void> = [];
  private partial = '';
  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile: string,
    capture: boolean,
  ) {
    const log = createWriteStream(logFile, { flags: 'a' });
    // A log that cannot be written (the run directory removed from under a
    // long run) must not take the whole test process down with an unhandled 'error'.
    log.on('error', (err) => process.stderr.write(`lab: ${name}: log ${logFile}: ${err.message}\n`));
    child.stderr?.pipe(log, { end: false });
    child.stdout?.on('data', (d: Buffer) => {
      log.write(d);
      if (!capture && this.lineListeners.length === 0) return;
      this.partial += d.toString();
      let nl: number;
      while ((nl = this.partial.indexOf('\n')) >= 0) {
        const line = this.partial.slice(0, nl);
        this.partial = this.partial.slice(nl + 1);
        if (capture) this.lines.push(line);
        for (const l of this.lineListeners) l(line);
      }
    });
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        resolve({ code, signal });
      });
      child.on('error', () => resolve({ code: -1, signal: null }));
    });
    void this.exited.then(() => log.end());
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running && this.child.pid) {
      try {
        process.kill(this.child.pid, sig);
      } catch {
        // exited in between
      }
    }
  }

  /** Writes to the child's stdin (spawned with `stdin: true`); false when it cannot. */
  write(text: string): boolean {
    const input = this.child.stdin;
    if (!input || input.destroyed || !this.running) return false;
    input.write(text);
    return true;
  }

  onLine(listener: (line: string) => void): void {
    this.lineListeners.push(listener);
  }

  /** Resolves with the first stdout line that satisfies the predicate, or rejects after timeoutMs. */
  waitForLine(pred: (line: string) => boolean, timeoutMs: number): Promise<string> {
    const found = this.lines.find(pred);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new LabError(`${this.name}: no matching output within ${timeoutMs} ms (log: ${this.logFile})`)), timeoutMs);
      this.onLine((line) => {
        if (pred(line)) {
          clearTimeout(timer);
          resolve(line);
        }
      });
      void this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new LabError(`${this.name} exited (code ${code}, signal ${signal}) before the expected output (log: ${this.logFile})`));
      });
    });
  }

  /** SIGTERM, then SIGKILL if it has not exited within graceMs. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    this.signal('SIGTERM');
    const t = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

/** One namespace on the segment: a server, the gateway, a client. */
export class LabHost {
  readonly processes: LabProcess[] = [];
  private readonly observers = new Set<LabProcess>();
  constructor(
    readonly lab: Lab,
    readonly name: string,
    readonly ns: string,
    readonly ipv4: string,
    readonly ipv6: string | undefined,
    /** The veth end on the switch, whose carrier is this host's "power". */
    readonly switchPort: string,
  ) {}

  /** The interface name inside the namespace. */
  readonly ifname = 'eth0';

  exec(cmd: string, args: string[], opts: { allowFail?: boolean; input?: string } = {}): Promise<string> {
    return run('ip', ['netns', 'exec', this.ns, cmd, ...args], opts);
  }

  ip(args: string[], opts: { allowFail?: boolean } = {}): Promise<string> {
    return run('ip', ['-n', this.ns, ...args], opts);
  }

  spawn(name: string, cmd: string, args: string[], opts: SpawnOptions = {}): LabProcess {
    const child = spawn('ip', ['netns', 'exec', this.ns, cmd, ...args], {
      stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...(opts.env ?? {}) },
      cwd: opts.cwd,
    });
    const logFile = join(this.lab.dir, `${this.name}-${name}.log`);
    const proc = new LabProcess(`${this.name}/${name}`, child, logFile, opts.captureStdout ?? false);
    if (opts.observer) this.observers.add(proc);
    this.processes.push(proc);
    return proc;
  }

  /** Run a compiled Node.js script of this repository inside the namespace. */
  spawnNode(name: string, script: string, args: string[], opts: SpawnOptions = {}): LabProcess {
    return this.spawn(name, process.execPath, [script, ...args], opts);
  }

  /** Power off: every process in the namespace SIGKILLed, the cable pulled (switch port down). */
  async powerOff(): Promise<void> {
    // A host losing power gets no chance to react, neither to its link going
    // down (an agent that saw the carrier drop would release its VIP and make
    // the crash look like a graceful stop) nor to a process dying: SIGKILLing
    // keepalived's parent first sends its VRRP child SIGTERM (PR_SET_PDEATHSIG),
    // and the child got a priority-0 advert out before the cable was pulled.
    // So: freeze everything, pull the cable, then kill.
    const spare = new Set<number>();
    for (const p of this.observers) if (p.running && p.pid !== undefined) spare.add(p.pid);
    await killNamespacePids(this.ns, 'SIGSTOP', spare);
    await this.lab.sw.ip(['link', 'set', this.switchPort, 'down']);
    await killNamespacePids(this.ns, 'SIGKILL', spare);
  }

  /** Power on: the cable back in. Processes are not restarted: that is the caller's job. */
  async powerOn(): Promise<void> {
    await this.lab.sw.ip(['link', 'set', this.switchPort, 'up']);
  }

  /** Interface down/up inside the host (what an operator's `ip link set eth0 down` does). */
  async setInterface(up: boolean): Promise<void> {
    await this.ip(['link', 'set', this.ifname, up ? 'up' : 'down']);
  }

  /** The IPv4/IPv6 addresses on eth0, as "addr/prefix". */
  async addresses(): Promise<string[]> {
    const out = await this.ip(['-o', 'addr', 'show', 'dev', this.ifname], { allowFail: true });
    const addrs: string[] = [];
    for (const line of out.split('\n')) {
      const m = /\sinet6?\s+(\S+)/.exec(line);
      if (m?.[1]) addrs.push(m[1]);
    }
    return addrs;
  }

  async hasAddress(address: string): Promise<boolean> {
    return (await this.addresses()).some((a) => a.split('/')[0] === address);
  }

  /** The neighbour table entry (lladdr) for an address, or undefined. */
  async neighbour(address: string): Promise<{ lladdr?: string; state: string } | undefined> {
    const out = await this.ip(['neigh', 'show', address, 'dev', this.ifname], { allowFail: true });
    const line = out.trim().split('\n')[0];
    if (!line) return undefined;
    const lladdr = /lladdr\s+(\S+)/.exec(line)?.[1];
    const state = line.trim().split(/\s+/).pop() ?? '';
    return lladdr ? { lladdr, state } : { state };
  }

  async macAddress(): Promise<string> {
    const out = await this.ip(['-o', 'link', 'show', 'dev', this.ifname]);
    const m = /link\/ether\s+(\S+)/.exec(out);
    if (!m?.[1]) throw new LabError(`${this.ns}: no MAC address on ${this.ifname}`);
    return m[1];
  }
}

export interface LabOptions {
  /** Keep the run directory (logs) after teardown. Default: keep on failure is the caller's call. */
  keepLogs?: boolean;
  /** Prefix override (tests of the lab itself). */
  prefix?: string;
}

/**
 * A lab run. `Lab.create()` builds the switch; `addHost()` plugs hosts in;
 * `destroy()` removes every namespace of this run and kills what runs inside.
 */
export class Lab {
  readonly hosts = new Map<string, LabHost>();
  private destroyed = false;
  private static live = new Set<Lab>();
  private static hooksInstalled = false;

  private constructor(
    readonly prefix: string,
    readonly dir: string,
    readonly sw: LabHost,
    private readonly options: LabOptions,
  ) {}

  static async create(options: LabOptions = {}): Promise<Lab> {
    const reason = labUnavailableReason();
    if (reason) throw new LabError(reason);
    await sweepStaleLabs();
    // 'kq' + 5 base36 chars: short enough that "<prefix>-<host>" stays readable.
    const prefix = options.prefix ?? `kq${BigInt('0x' + randomBytes(4).toString('hex')).toString(36).slice(0, 5).padStart(5, '0')}`;
    mkdirSync(OWNERS_DIR, { recursive: true });
    writeFileSync(join(OWNERS_DIR, `${prefix}.owner`), String(process.pid));
    const dir = join(tmpdir(), `keepquorum-lab-${prefix}`);
    mkdirSync(dir, { recursive: true });
    const swNs = `${prefix}-sw`;
    await run('ip', ['netns', 'add', swNs]);
    const sw = new LabHost(undefined as unknown as Lab, 'sw', swNs, '', undefined, '');
    const lab = new Lab(prefix, dir, sw, options);
    (sw as { lab: Lab }).lab = lab;
    Lab.live.add(lab);
    Lab.installExitHooks();
    await sw.ip(['link', 'set', 'lo', 'up']);
    await sw.ip(['link', 'add', 'br0', 'type', 'bridge']);
    // A bridge that forwards at once: no STP listening delay, no multicast snooping
    // deciding which VRRP adverts pass.
    await sw.ip(['link', 'set', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0']);
    await sw.ip(['link', 'set', 'br0', 'up']);
    return lab;
  }

  /** Plug a host into the segment. */
  async addHost(spec: HostSpec): Promise<LabHost> {
    if (this.hosts.has(spec.name)) throw new LabError(`host ${spec.name} exists already`);
    checkLabAddress(spec.ipv4);
    if (spec.ipv6) checkLabAddress(spec.ipv6);
    const ns = `${this.prefix}-${spec.name}`;
    const port = `p-${spec.name}`.slice(0, 15);
    await run('ip', ['netns', 'add', ns]);
    const host = new LabHost(this, spec.name, ns, spec.ipv4, spec.ipv6, port);
    this.hosts.set(spec.name, host);
    await run('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', this.sw.ns]);
    await this.sw.ip(['link', 'set', port, 'master', 'br0']);
    await this.sw.ip(['link', 'set', port, 'up']);
    const sysctls: Array<[string, string]> = [
      // IPv6 addresses usable at once, no duplicate address detection delay.
      ['net.ipv6.conf.all.accept_dad', '0'],
      ['net.ipv6.conf.default.accept_dad', '0'],
      ['net.ipv6.conf.eth0.accept_dad', '0'],
      ['net.ipv4.conf.all.arp_accept', spec.arpAccept ? '1' : '0'],
      ['net.ipv4.conf.eth0.arp_accept', spec.arpAccept ? '1' : '0'],
      // Linux creates a neighbour entry from an unsolicited NA only on a forwarding
      // interface that accepts untracked NAs: the IPv6 twin of arp_accept.
      ['net.ipv6.conf.eth0.forwarding', spec.arpAccept ? '1' : '0'],
      ['net.ipv6.conf.eth0.accept_untracked_na', spec.arpAccept ? '1' : '0'],
    ];
    for (const [k, v] of sysctls) await host.exec('sysctl', ['-q', '-w', `${k}=${v}`], { allowFail: true });
    await host.ip(['link', 'set', 'lo', 'up']);
    await host.ip(['addr', 'add', `${spec.ipv4}/16`, 'dev', 'eth0']);
    if (spec.ipv6) await host.ip(['addr', 'add', `${spec.ipv6}/64`, 'dev', 'eth0', 'nodad']);
    await host.ip(['link', 'set', 'eth0', 'up']);
    return host;
  }

  host(name: string): LabHost {
    const h = this.hosts.get(name);
    if (!h) throw new LabError(`no host ${name} in lab ${this.prefix}`);
    return h;
  }

  /** Kill everything, delete every namespace of this run. Safe to call twice. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    Lab.live.delete(this);
    for (const host of this.hosts.values()) {
      for (const p of host.processes) p.signal('SIGKILL');
    }
    const namespaces = (await listNamespaces()).filter((n) => n.startsWith(`${this.prefix}-`));
    for (const ns of namespaces) await killNamespacePids(ns);
    for (const ns of namespaces) await run('ip', ['netns', 'del', ns], { allowFail: true });
    rmSync(join(OWNERS_DIR, `${this.prefix}.owner`), { force: true });
    // KQ_LAB_KEEP_LOGS=1 keeps every run's logs for a post-mortem.
    if (!this.options.keepLogs && process.env['KQ_LAB_KEEP_LOGS'] !== '1') rmSync(this.dir, { recursive: true, force: true });
  }

  /** Synchronous last-resort teardown for process exit (no awaits possible there). */
  private destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const host of this.hosts.values()) {
      for (const p of host.processes) p.signal('SIGKILL');
    }
    const all = [this.sw, ...this.hosts.values()];
    for (const h of all) {
      try {
        const out = execFileSyncSafe('ip', ['netns', 'pids', h.ns]);
        for (const pid of out.split('\n').map((s) => Number.parseInt(s, 10)).filter((n) => n > 0 && n !== process.pid)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      } catch {
        // namespace gone
      }
      execFileSyncSafe('ip', ['netns', 'del', h.ns]);
    }
    rmSync(join(OWNERS_DIR, `${this.prefix}.owner`), { force: true });
  }

  private static installExitHooks(): void {
    if (Lab.hooksInstalled) return;
    Lab.hooksInstalled = true;
    process.on('exit', () => {
      for (const lab of Lab.live) lab.destroySync();
    });
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(sig, () => {
        for (const lab of Lab.live) lab.destroySync();
        process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
      });
    }
  }
}

function execFileSyncSafe(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  } catch {
    return '';
  }
}

/** The lab's address rule: 198.18.0.0/15 and fd00:198:18::/48 only. */
export function checkLabAddress(address: string): void {
  if (address.includes(':')) {
    if (!/^fd00:198:18:/i.test(address)) throw new LabError(`${address} is outside the lab's fd00:198:18::/48`);
    return;
  }
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new LabError(`${address} is not an IPv4 address`);
  }
  if (parts[0] !== 198 || (parts[1] !== 18 && parts[1] !== 19)) {
    throw new LabError(`${address} is outside the lab's 198.18.0.0/15`);
  }
}
