/**
 * keepalived.conf block tree → the agent's model. One table of keywords per
 * block: implemented keywords have a handler; keywords keepalived knows but
 * keepquorum does not implement get one warning and their contents are
 * skipped; anything else is an error. keepalived's own adjustments (rounding
 * advert_int for VRRPv2, clearing nopreempt with state MASTER, priority 255 for
 * a MASTER without priority…) are mirrored, each with a warning that says so.
 *
 * Ranges and types are checked by the model's zod schemas afterwards; this file
 * records where every value came from so those messages name file:line and the
 * keepalived keyword.
 */
import type { ErrorCode } from '../../../common/src/errors.js';
import { DiagnosticSink, show, suggest } from '../diagnostics.js';
import { deriveFamily, familyOf } from '../model.js';
import { pathKey, type Location, type Locator, type Path } from '../validate.js';
import * as KW from './keywords.js';
import { splitCommandLine, type WordToken } from './lexer.js';
import { label, type ConfNode } from './parser.js';

type Raw = Record<string, unknown>;

interface InstanceSide {
  node: ConfNode;
  ctx: string;
  /** advert_int in microseconds, as keepalived keeps it; resolved once the version is known. */
  advertMicros?: number;
  advertNode?: ConfNode;
  stateNode?: ConfNode;
  nopreemptNode?: ConfNode;
  preemptDelayNode?: ConfNode;
  versionNode?: ConfNode;
  authNode?: ConfNode;
  authTypeSet?: boolean;
  authPassSet?: boolean;
  trackInterfaceNodes: ConfNode[];
}

export interface MapResult {
  raw: Raw;
  locator: Locator;
  /** Paths whose errors the mapper already reported. */
  reported: Set<string>;
}

const TERMS: Record<string, string> = {
  id: 'router_id',
  vrrpVersion: 'vrrp_version',
  mcastGroup4: 'vrrp_mcast_group4',
  mcastGroup6: 'vrrp_mcast_group6',
  masterDelayS: 'vrrp_garp_master_delay',
  masterRepeat: 'vrrp_garp_master_repeat',
  masterRefreshS: 'vrrp_garp_master_refresh',
  masterRefreshRepeat: 'vrrp_garp_master_refresh_repeat',
  intervalS: 'interval',
  naIntervalS: 'vrrp_gna_interval',
  scriptUser: 'script_user',
  enableScriptSecurity: 'enable_script_security',
  vrrpStrict: 'vrrp_strict',
  skipCheckAdvAddr: 'vrrp_skip_check_adv_addr',
  vrrpNice: 'vrrp_priority',
  script: 'script',
  timeoutS: 'timeout',
  weight: 'weight',
  weightReverse: 'weight … reverse',
  rise: 'rise',
  fall: 'fall',
  user: 'user',
  group: 'group',
  initFail: 'init_fail',
  name: 'name',
  interface: 'interface',
  vrid: 'virtual_router_id',
  priority: 'priority',
  advertIntervalCs: 'advert_int',
  version: 'version',
  initialState: 'state',
  preempt: 'nopreempt',
  preemptDelayS: 'preempt_delay',
  authentication: 'authentication',
  type: 'auth_type',
  password: 'auth_pass',
  virtualAddresses: 'virtual_ipaddress',
  virtualAddressesExcluded: 'virtual_ipaddress_excluded',
  unicastSourceIp: 'unicast_src_ip',
  unicastPeers: 'unicast_peer',
  mcastSourceIp: 'mcast_src_ip',
  trackInterfaces: 'track_interface',
  trackScripts: 'track_script',
  master: 'notify_master',
  backup: 'notify_backup',
  fault: 'notify_fault',
  stop: 'notify_stop',
  any: 'notify',
  instances: 'group',
  address: 'address',
  prefixLength: '/MASK',
  device: 'dev',
  label: 'label',
  broadcast: 'brd',
  scope: 'scope',
  command: 'command',
};

/** Why a block is not implemented, when there is something useful to say. */
const ADVICE: Record<string, string> = {
  virtual_server: 'IPVS load balancing is not part of keepquorum; keep keepalived\'s checker (keepalived -C) or ipvsadm for it',
  virtual_server_group: 'IPVS load balancing is not part of keepquorum',
  SSL: 'it configures IPVS checkers, which keepquorum does not run',
  notification_email: 'keepquorum sends no mail; use a notify script',
  notification_email_from: 'keepquorum sends no mail; use a notify script',
  smtp_server: 'keepquorum sends no mail; use a notify script',
  smtp_connect_timeout: 'keepquorum sends no mail; use a notify script',
  smtp_helo_name: 'keepquorum sends no mail; use a notify script',
  smtp_alert: 'keepquorum sends no mail; use a notify script',
  use_vmac: 'VIPs are added to the interface itself, with its own MAC address',
  track_file: 'use a vrrp_script that reads the file',
  vrrp_track_file: 'use a vrrp_script that reads the file',
  track_process: 'use a vrrp_script (e.g. pidof)',
  vrrp_track_process: 'use a vrrp_script (e.g. pidof)',
  garp_master_delay: 'the global_defs vrrp_garp_master_delay applies',
  garp_master_repeat: 'the global_defs vrrp_garp_master_repeat applies',
  garp_master_refresh: 'the global_defs vrrp_garp_master_refresh applies',
  garp_master_refresh_repeat: 'the global_defs vrrp_garp_master_refresh_repeat applies',
  static_ipaddress: 'add static addresses with the system network configuration',
  static_routes: 'add static routes with the system network configuration',
  static_rules: 'add static rules with the system network configuration',
  virtual_routes: 'routes are not moved with the VIPs; use notify scripts',
  virtual_rules: 'rules are not moved with the VIPs; use notify scripts',
};

const TOP_TERMS: Record<string, string> = {
  node: 'global_defs',
  global: 'global_defs',
  scripts: 'vrrp_script',
  instances: 'vrrp_instance',
  syncGroups: 'vrrp_sync_group',
};

/** keepalived words for the model path segments from `from` on. */
function termsOf(path: Path, from: number): string[] {
  const out: string[] = [];
  for (let i = from; i < path.length; i++) {
    const seg = path[i];
    if (typeof seg !== 'string') continue;
    if (i === 0) out.push(own(TOP_TERMS, seg) ?? seg);
    else if (path[0] === 'global' && seg === 'intervalS') out.push('vrrp_garp_interval');
    else if (path[0] === 'scripts' && i === 1) continue;
    else out.push(own(TERMS, seg) ?? seg);
  }
  return out;
}

const BOOL_WORDS: Record<string, boolean> = { on: true, true: true, yes: true, off: false, false: false, no: false };

/** A table's own entry for a word from the file: never Object.prototype's ('constructor', '__proto__'). */
function own<T>(table: Readonly<Record<string, T>>, word: string): T | undefined {
  return Object.hasOwn(table, word) ? table[word] : undefined;
}

export interface MapOptions {
  /** For messages about the top-level file. */
  file: string;
}

export function mapToModel(nodes: readonly ConfNode[], sink: DiagnosticSink, options: MapOptions): MapResult {
  const m = new Mapper(sink, options);
  m.top(nodes);
  m.complete();
  return { raw: m.raw, locator: m.locator(), reported: m.reported };
}

class Mapper {
  readonly raw: Raw = { node: {}, global: { garp: {} }, scripts: {}, instances: [], syncGroups: [] };
  readonly reported = new Set<string>();
  private readonly locs = new Map<string, Location>();
  private readonly instanceSide: InstanceSide[] = [];
  private readonly instanceByName = new Map<string, ConfNode>();
  private readonly scriptByName = new Map<string, ConfNode>();
  private readonly groupByName = new Map<string, ConfNode>();

  constructor(
    private readonly sink: DiagnosticSink,
    private readonly options: MapOptions,
  ) {}

  // -------------------------------------------------------------------------
  // Diagnostics and locations

  private at(node: ConfNode | WordToken, key: string): { file: string; line: number; column: number; key: string } {
    const tok = 'key' in node ? node.key : node;
    return { file: tok.file, line: tok.line, column: tok.column, key };
  }

  private error(code: ErrorCode, node: ConfNode | WordToken, key: string, message: string, path?: Path): void {
    this.sink.error(code, this.at(node, key), message);
    if (path) this.reported.add(pathKey(path));
  }

  private warn(code: ErrorCode, node: ConfNode | WordToken, key: string, message: string): void {
    this.sink.warn(code, this.at(node, key), message);
  }

  private record(path: Path, node: ConfNode | WordToken, key: string, found?: string): void {
    const tok = 'key' in node ? node.key : node;
    this.locs.set(pathKey(path), { file: tok.file, line: tok.line, column: tok.column, key, found });
  }

  locator(): Locator {
    const locs = this.locs;
    const file = this.options.file;
    return {
      locate(path: Path): Location {
        for (let n = path.length; n >= 0; n--) {
          const loc = locs.get(pathKey(path.slice(0, n)));
          if (!loc) continue;
          if (n === path.length) return loc;
          const terms = termsOf(path, n);
          return { file: loc.file, line: loc.line, column: loc.column, key: [loc.key, ...terms].join(' > ') };
        }
        return { file, key: termsOf(path, 0).join(' > ') || '(top level)' };
      },
      term(field: string): string {
        return own(TERMS, field) ?? field;
      },
    };
  }

  // -------------------------------------------------------------------------
  // Block dispatch

  private dispatch(
    children: readonly ConfNode[],
    ctx: string,
    known: readonly string[],
    handlers: Record<string, (n: ConfNode, key: string) => void>,
    scalars: { last: readonly string[]; first: readonly string[] } = { last: [], first: [] },
    unknownHint = '',
  ): void {
    const seen = new Map<string, ConfNode>();
    for (const n of children) {
      const word = n.key.text;
      const key = ctx ? `${ctx} > ${word}` : word;
      const handler = own(handlers, word);
      if (handler) {
        const before = seen.get(word);
        if (before && scalars.last.includes(word)) {
          this.warn('KQ_WARN_CONFIG_SUSPICIOUS', n, key, `'${word}' is set again (first at line ${before.line}); the last one wins, as in keepalived`);
        } else if (before && scalars.first.includes(word)) {
          this.warn('KQ_WARN_CONFIG_SUSPICIOUS', n, key, `'${word}' is set again (first at line ${before.line}); keepalived keeps the first one and ignores this one`);
          continue;
        }
        seen.set(word, n);
        handler(n, key);
      } else if (known.includes(word)) {
        this.notImplemented(n, key);
      } else if (ctx !== '' && (KW.TOP_LEVEL as readonly string[]).includes(word)) {
        this.error('KQ_ERR_CONFIG_SYNTAX', n, key, `found the top-level block '${word}' inside '${ctx}'; expected it at the top level: a '}' is probably missing before line ${n.line}`);
      } else {
        const hint = suggest(word, known);
        const block = ctx.split(' > ').pop()!.split(' ')[0];
        const where = ctx === '' ? 'at the top level' : `in ${block}`;
        this.error('KQ_ERR_CONFIG_UNKNOWN_KEY', n, key, `found '${word}', which keepalived does not know ${where}${hint ? ` (did you mean '${hint}'?)` : unknownHint}; expected one of ${known.slice(0, 12).join(', ')}${known.length > 12 ? ', …' : ''}`);
      }
    }
  }

  private notImplemented(n: ConfNode, key: string): void {
    const word = n.key.text;
    const block = n.block ? ` and its block (lines ${n.line}-${n.blockEnd?.line ?? '?'}) is skipped` : '';
    const advice = own(ADVICE, word) ? `: ${own(ADVICE, word)}` : '';
    this.warn('KQ_WARN_CONFIG_NOT_IMPLEMENTED', n, key, `keepquorum does not implement '${word}'; it is ignored${block}${advice}`);
  }

  // -------------------------------------------------------------------------
  // Argument helpers

  private noBlock(n: ConfNode, key: string): boolean {
    if (!n.block) return true;
    this.error('KQ_ERR_CONFIG_SYNTAX', n, key, `found a '{ … }' block after '${n.key.text}'; expected '${n.key.text}' with its value on one line`);
    return false;
  }

  private needBlock(n: ConfNode, key: string, usage: string, namedArgs = 0): ConfNode[] | undefined {
    if (n.block) {
      if (n.args.length > namedArgs) {
        const extra = n.args.slice(namedArgs);
        this.warn('KQ_WARN_CONFIG_SUSPICIOUS', extra[0]!, key, `found ${extra.map((a) => show(a.text)).join(' ')} between '${n.key.text}' and '{'; ignored (keepalived reports "extra parameters" too)`);
      }
      return n.block;
    }
    const found = n.args.length > 0 ? `'${n.args.map((a) => a.text).join(' ')}' on the same line` : 'no block';
    this.error('KQ_ERR_CONFIG_SYNTAX', n, key, `found ${found}; expected a block: ${usage}`);
    return undefined;
  }

  /** Exactly one value (extra words are ignored by keepalived: warn). */
  private oneArg(n: ConfNode, key: string, usage: string, path?: Path): WordToken | undefined {
    if (!this.noBlock(n, key)) return undefined;
    const [first, ...extra] = n.args;
    if (!first) {
      this.error('KQ_ERR_CONFIG_VALUE', n, key, `found no value; expected ${usage}`, path);
      return undefined;
    }
    if (extra.length > 0) {
      this.warn('KQ_WARN_CONFIG_SUSPICIOUS', extra[0]!, key, `found extra words ${extra.map((t) => show(t.text)).join(' ')} after the value; ignored as keepalived ignores them (expected ${usage})`);
    }
    return first;
  }

  private flag(n: ConfNode, key: string): boolean {
    if (!this.noBlock(n, key)) return false;
    if (n.args.length > 0) {
      this.warn('KQ_WARN_CONFIG_SUSPICIOUS', n.args[0]!, key, `'${n.key.text}' takes no value; ${show(n.args[0]!.text)} is ignored, as keepalived ignores it`);
    }
    return true;
  }

  private int(tok: WordToken, key: string, expected: string, path?: Path): number | undefined {
    if (/^[+-]?\d+$/.test(tok.text)) return Number(tok.text);
    this.error('KQ_ERR_CONFIG_VALUE', tok, key, `found ${show(tok.text)}; expected ${expected}`, path);
    return undefined;
  }

  /** A non-negative decimal as keepalived's read_decimal accepts it ("1", "0.5", "2.71828"). */
  private decimal(tok: WordToken, key: string, expected: string, path: Path): number | undefined {
    if (/^\d+(\.\d*)?$|^\.\d+$/.test(tok.text)) return Number(tok.text);
    this.error('KQ_ERR_CONFIG_VALUE', tok, key, `found ${show(tok.text)}; expected ${expected}`, path);
    return undefined;
  }

  private optionalBool(n: ConfNode, key: string): boolean | undefined {
    if (!this.noBlock(n, key)) return undefined;
    const tok = n.args[0];
    if (!tok) return true;
    const v = own(BOOL_WORDS, tok.text);
    if (v === undefined) {
      this.error('KQ_ERR_CONFIG_VALUE', tok, key, `found ${show(tok.text)}; expected nothing (on) or one of on, off, true, false, yes, no`);
    }
    return v;
  }

  // -------------------------------------------------------------------------
  // Top level

  top(nodes: readonly ConfNode[]): void {
    this.dispatch(nodes, '', KW.TOP_LEVEL, {
      global_defs: (n, key) => {
        const block = this.needBlock(n, key, 'global_defs { … }');
        if (block) this.globalDefs(block);
      },
      vrrp_script: (n, key) => this.vrrpScript(n, key),
      vrrp_instance: (n, key) => this.vrrpInstance(n, key),
      vrrp_sync_group: (n, key) => this.syncGroup(n, key),
    });
  }

  private named(n: ConfNode, key: string, what: string, seen: Map<string, ConfNode>): string | undefined {
    if (n.args.length !== 1) {
      const found = n.args.length === 0 ? 'no name' : `${n.args.length} words ${n.args.map((a) => show(a.text)).join(' ')}`;
      this.error('KQ_ERR_CONFIG_SYNTAX', n, key, `found ${found} after '${what}'; expected '${what} NAME {' with a one-word name (the block is skipped)`);
      return undefined;
    }
    const name = n.args[0]!.text;
    if (name === '__proto__') {
      this.error('KQ_ERR_CONFIG_VALUE', n.args[0]!, `${what} ${name}`, `found the name '__proto__', which keepquorum cannot use as a name; expected another name (the block is skipped)`);
      return undefined;
    }
    const first = seen.get(name);
    if (first) {
      this.error('KQ_ERR_CONFIG_DUPLICATE', n, `${what} ${name}`, `${what} '${name}' is already defined at ${first.file}:${first.line}; expected unique names (this block is skipped)`);
      return undefined;
    }
    seen.set(name, n);
    return name;
  }

  // -------------------------------------------------------------------------
  // global_defs

  private globalDefs(children: readonly ConfNode[]): void {
    const g = this.raw.global as Raw;
    const garp = g.garp as Raw;
    const ctx = 'global_defs';
    const intInto = (target: Raw, field: string, path: Path, expected: string) => (n: ConfNode, key: string) => {
      const tok = this.oneArg(n, key, expected, path);
      if (!tok) return;
      const v = this.int(tok, key, expected, path);
      if (v === undefined) return;
      target[field] = v;
      this.record(path, tok, key, tok.text);
    };
    const secondsInto = (field: string) => (n: ConfNode, key: string) => {
      const path = ['global', 'garp', field];
      const expected = 'a number of seconds from 0.000001 to 4294.967295';
      const tok = this.oneArg(n, key, expected, path);
      if (!tok) return;
      const v = this.decimal(tok, key, expected, path);
      if (v === undefined) return;
      if (v === 0) {
        // RHEL's stock keepalived.conf says "vrrp_garp_interval 0": keepalived rejects the value and keeps its default, which is 0
        this.warn('KQ_WARN_CONFIG_ADJUSTED', tok, key, `found '0', outside keepalived's range (0.000001 to 4294.967295); ignored as keepalived ignores it, so the default (no delay) applies`);
        return;
      }
      if (v > 4294.967295) {
        this.error('KQ_ERR_CONFIG_VALUE', tok, key, `found ${show(tok.text)}; expected ${expected}`, path);
        return;
      }
      garp[field] = v;
      this.record(path, tok, key, tok.text);
    };
    this.dispatch(
      children,
      ctx,
      KW.GLOBAL_DEFS,
      {
        router_id: (n, key) => {
          const tok = this.oneArg(n, key, 'a name for this node', ['node', 'id']);
          if (!tok) return;
          (this.raw.node as Raw).id = tok.text;
          this.record(['node', 'id'], tok, key, tok.text);
        },
        vrrp_version: intInto(g, 'vrrpVersion', ['global', 'vrrpVersion'], '2 or 3'),
        vrrp_mcast_group4: (n, key) => {
          const tok = this.oneArg(n, key, 'an IPv4 multicast address', ['global', 'mcastGroup4']);
          if (!tok) return;
          g.mcastGroup4 = tok.text;
          this.record(['global', 'mcastGroup4'], tok, key, tok.text);
        },
        vrrp_mcast_group6: (n, key) => {
          const tok = this.oneArg(n, key, 'an IPv6 multicast address', ['global', 'mcastGroup6']);
          if (!tok) return;
          g.mcastGroup6 = tok.text;
          this.record(['global', 'mcastGroup6'], tok, key, tok.text);
        },
        vrrp_garp_master_delay: intInto(garp, 'masterDelayS', ['global', 'garp', 'masterDelayS'], 'a whole number of seconds from 0 to 4294'),
        vrrp_garp_master_repeat: intInto(garp, 'masterRepeat', ['global', 'garp', 'masterRepeat'], 'an integer of at least 1'),
        vrrp_garp_master_refresh: intInto(garp, 'masterRefreshS', ['global', 'garp', 'masterRefreshS'], 'a whole number of seconds (0 = no refresh)'),
        vrrp_garp_master_refresh_repeat: intInto(garp, 'masterRefreshRepeat', ['global', 'garp', 'masterRefreshRepeat'], 'an integer of at least 1'),
        vrrp_garp_interval: secondsInto('intervalS'),
        vrrp_gna_interval: secondsInto('naIntervalS'),
        vrrp_min_garp: (n, key) => {
          const v = this.optionalBool(n, key);
          if (v) {
            // keepalived: one GARP/NA message and no second burst
            garp.masterRepeat = 1;
            garp.masterDelayS = 0;
            this.record(['global', 'garp', 'masterRepeat'], n, key);
            this.record(['global', 'garp', 'masterDelayS'], n, key);
          }
        },
        script_user: (n, key) => {
          if (!this.noBlock(n, key)) return;
          const [user, group, ...extra] = n.args;
          if (!user) {
            this.error('KQ_ERR_CONFIG_VALUE', n, key, 'found no user; expected script_user USER [GROUP]', ['global', 'scriptUser']);
            return;
          }
          if (extra.length > 0) this.warn('KQ_WARN_CONFIG_SUSPICIOUS', extra[0]!, key, `found extra words after script_user USER GROUP; ignored`);
          g.scriptUser = group ? { user: user.text, group: group.text } : { user: user.text };
          this.record(['global', 'scriptUser'], n, key);
          this.record(['global', 'scriptUser', 'user'], user, key, user.text);
          if (group) this.record(['global', 'scriptUser', 'group'], group, key, group.text);
        },
        enable_script_security: (n, key) => {
          if (this.flag(n, key)) g.enableScriptSecurity = true;
        },
        vrrp_strict: (n, key) => {
          if (this.flag(n, key)) g.vrrpStrict = true;
        },
        vrrp_skip_check_adv_addr: (n, key) => {
          const v = this.optionalBool(n, key);
          if (v !== undefined) g.skipCheckAdvAddr = v;
        },
        // keepalived: the nice value of its VRRP process; here, of the agent's VRRP thread.
        vrrp_priority: intInto(g, 'vrrpNice', ['global', 'vrrpNice'], 'a nice value from -20 to 19'),
      },
      {
        last: ['router_id', 'vrrp_version', 'vrrp_mcast_group4', 'vrrp_mcast_group6', 'vrrp_garp_master_delay', 'vrrp_garp_master_repeat', 'vrrp_garp_master_refresh', 'vrrp_garp_master_refresh_repeat', 'vrrp_garp_interval', 'vrrp_gna_interval', 'script_user', 'vrrp_priority'],
        first: [],
      },
    );
  }

  // -------------------------------------------------------------------------
  // vrrp_script

  private vrrpScript(n: ConfNode, key: string): void {
    const name = this.named(n, key, 'vrrp_script', this.scriptByName);
    if (name === undefined) return;
    const ctx = `vrrp_script ${name}`;
    const block = this.needBlock(n, ctx, `vrrp_script ${name} { script "…" … }`, 1);
    if (!block) return;
    const s: Raw = { source: { file: n.file, line: n.line } };
    (this.raw.scripts as Raw)[name] = s;
    const base: Path = ['scripts', name];
    this.record(base, n, ctx);
    const intField = (field: string, expected: string) => (c: ConfNode, k: string) => {
      const path = [...base, field];
      const tok = this.oneArg(c, k, expected, path);
      if (!tok) return;
      const v = this.int(tok, k, expected, path);
      if (v === undefined) return;
      s[field] = v;
      this.record(path, tok, k, tok.text);
    };
    this.dispatch(
      block,
      ctx,
      KW.VRRP_SCRIPT,
      {
        script: (c, k) => {
          if (!this.noBlock(c, k)) return;
          const words = this.commandWords(c, k, [...base, 'script']);
          if (!words) return;
          const [, command, ...extra] = words;
          if (command === undefined || command === '') {
            this.error('KQ_ERR_CONFIG_VALUE', c, k, 'found no command; expected script "COMMAND [ARGS]"', [...base, 'script']);
            return;
          }
          if (extra.length > 0) {
            this.warn('KQ_WARN_CONFIG_SUSPICIOUS', c, k, `found ${extra.map((w) => show(w)).join(' ')} after the command; keepalived runs only '${command}' and ignores them: put the whole command line in quotes, script "${[command, ...extra].join(' ')}"`);
          }
          s.script = command;
          this.record([...base, 'script'], c, k, command);
        },
        interval: intField('intervalS', 'a whole number of seconds from 1 to 4294'),
        timeout: intField('timeoutS', 'a whole number of seconds from 1 to 4294'),
        weight: (c, k) => {
          const path = [...base, 'weight'];
          const usage = 'weight N [reverse] with N from -253 to 253';
          if (!this.noBlock(c, k)) return;
          const [tok, mod, ...extra] = c.args;
          if (!tok) {
            this.error('KQ_ERR_CONFIG_VALUE', c, k, `found no value; expected ${usage}`, path);
            return;
          }
          const v = this.int(tok, k, 'an integer from -253 to 253', path);
          if (v === undefined) return;
          s.weight = v;
          this.record(path, tok, k, tok.text);
          if (mod) {
            if (mod.text === 'reverse') s.weightReverse = true;
            else if (mod.text !== 'noreverse' && mod.text !== 'no_reverse') {
              this.error('KQ_ERR_CONFIG_VALUE', mod, k, `found ${show(mod.text)} after the weight; expected 'reverse' or nothing`, [...base, 'weightReverse']);
            }
          }
          if (extra.length > 0) this.warn('KQ_WARN_CONFIG_SUSPICIOUS', extra[0]!, k, `found extra words after '${usage}'; ignored`);
        },
        rise: intField('rise', 'an integer of at least 1'),
        fall: intField('fall', 'an integer of at least 1'),
        user: (c, k) => {
          if (!this.noBlock(c, k)) return;
          const [user, group] = c.args;
          if (!user) {
            this.error('KQ_ERR_CONFIG_VALUE', c, k, 'found no user; expected user USER [GROUP]', [...base, 'user']);
            return;
          }
          s.user = user.text;
          this.record([...base, 'user'], user, k, user.text);
          if (group) {
            s.group = group.text;
            this.record([...base, 'group'], group, k, group.text);
          }
        },
        init_fail: (c, k) => {
          if (this.flag(c, k)) s.initFail = true;
        },
      },
      { last: ['script', 'interval', 'timeout', 'weight', 'rise', 'fall', 'user'], first: [] },
    );
  }

  /** Re-split a statement as keepalived does for scripts; reports and returns undefined if it cannot. */
  private commandWords(c: ConfNode, k: string, path: Path): string[] | undefined {
    try {
      return splitCommandLine(c.raw);
    } catch (e) {
      // an unterminated double quote was already reported by the lexer for this line
      const already = this.sink.items.some((d) => d.severity === 'error' && d.code === 'KQ_ERR_CONFIG_SYNTAX' && d.file === c.file && d.line === c.line);
      if (already) this.reported.add(pathKey(path));
      else this.error('KQ_ERR_CONFIG_SYNTAX', c, k, (e as Error).message, path);
      return undefined;
    }
  }

  private notifyCommand(c: ConfNode, k: string, path: Path): Raw | undefined {
    if (!this.noBlock(c, k)) return undefined;
    const words = this.commandWords(c, k, path);
    if (!words) return undefined;
    const [word, command, user, group, ...extra] = words;
    if (command === undefined || command === '') {
      this.error('KQ_ERR_CONFIG_VALUE', c, k, `found no command; expected ${word} "COMMAND [ARGS]" [USER [GROUP]]`, path);
      return undefined;
    }
    const afterKeyword = c.raw.slice(c.raw.indexOf(c.key.text) + c.key.text.length).trimStart();
    if (user !== undefined && !/^["']/.test(afterKeyword)) {
      this.warn('KQ_WARN_CONFIG_SUSPICIOUS', c, k, `'${user}' after the command is the user to run it as${group !== undefined ? ` and '${group}' its group` : ''} (keepalived's syntax is ${word} "COMMAND ARGS" [USER [GROUP]]), not an argument; quote the command line if '${user}' is meant as an argument`);
    }
    if (extra.length > 0) {
      this.warn('KQ_WARN_CONFIG_SUSPICIOUS', c, k, `found ${extra.map((w) => show(w)).join(' ')} after USER GROUP; ignored, as keepalived ignores them`);
    }
    const out: Raw = { command };
    if (user !== undefined) out.user = user;
    if (group !== undefined) out.group = group;
    this.record(path, c, k, command);
    return out;
  }

  private notifyHandlers(target: Raw, base: Path): Record<string, (c: ConfNode, k: string) => void> {
    const notify = (target.notify ??= {}) as Raw;
    const one = (field: string) => (c: ConfNode, k: string) => {
      const cmd = this.notifyCommand(c, k, [...base, 'notify', field]);
      if (cmd) notify[field] = cmd;
    };
    return {
      notify_master: one('master'),
      notify_backup: one('backup'),
      notify_fault: one('fault'),
      notify_stop: one('stop'),
      notify: one('any'),
    };
  }

  // -------------------------------------------------------------------------
  // vrrp_instance

  private vrrpInstance(n: ConfNode, key: string): void {
    const name = this.named(n, key, 'vrrp_instance', this.instanceByName);
    if (name === undefined) return;
    const ctx = `vrrp_instance ${name}`;
    const block = this.needBlock(n, ctx, `vrrp_instance ${name} { interface …; virtual_router_id …; … }`, 1);
    if (!block) return;
    const instances = this.raw.instances as Raw[];
    const index = instances.length;
    const inst: Raw = { name, source: { file: n.file, line: n.line } };
    instances.push(inst);
    const side: InstanceSide = { node: n, ctx, trackInterfaceNodes: [] };
    this.instanceSide[index] = side;
    const base: Path = ['instances', index];
    this.record(base, n, ctx);
    this.record([...base, 'name'], n.args[0]!, ctx, name);

    const scalar = (field: string, expected: string, parse: 'int' | 'text') => (c: ConfNode, k: string) => {
      const path = [...base, field];
      const tok = this.oneArg(c, k, expected, path);
      if (!tok) return;
      const v = parse === 'int' ? this.int(tok, k, expected, path) : tok.text;
      if (v === undefined) return;
      inst[field] = v;
      this.record(path, tok, k, tok.text);
    };

    this.dispatch(
      block,
      ctx,
      KW.VRRP_INSTANCE,
      {
        state: (c, k) => {
          const path = [...base, 'initialState'];
          const tok = this.oneArg(c, k, 'MASTER or BACKUP', path);
          if (!tok) return;
          if (tok.text !== 'MASTER' && tok.text !== 'BACKUP') {
            const upper = tok.text.toUpperCase();
            const hint = upper === 'MASTER' || upper === 'BACKUP' ? ` (keepalived wants upper case: '${upper}'; it would start as BACKUP)` : ' (keepalived would start as BACKUP)';
            this.error('KQ_ERR_CONFIG_VALUE', tok, k, `found ${show(tok.text)}; expected MASTER or BACKUP${hint}`, path);
            return;
          }
          if (tok.text === 'BACKUP' && inst.initialState === 'MASTER') {
            this.warn('KQ_WARN_CONFIG_ADJUSTED', tok, k, `state BACKUP after state MASTER (line ${side.stateNode?.line}) is ignored, as keepalived ignores it`);
            return;
          }
          inst.initialState = tok.text;
          side.stateNode = c;
          this.record(path, tok, k, tok.text);
        },
        interface: scalar('interface', 'an interface name', 'text'),
        virtual_router_id: scalar('vrid', 'an integer from 1 to 255', 'int'),
        priority: scalar('priority', 'an integer from 1 to 255', 'int'),
        advert_int: (c, k) => {
          const path = [...base, 'advertIntervalCs'];
          const expected = 'a number of seconds from 0.01 to 255 (e.g. 1 or 0.1)';
          const tok = this.oneArg(c, k, expected, path);
          if (!tok) return;
          const v = this.decimal(tok, k, expected, path);
          if (v === undefined) return;
          const micros = Math.round(v * 1e6);
          if (micros < 10_000 || micros > 255_000_000) {
            this.error('KQ_ERR_CONFIG_VALUE', tok, k, `found ${show(tok.text)}; expected ${expected}`, path);
            return;
          }
          side.advertMicros = micros;
          side.advertNode = c;
          this.record(path, tok, k, tok.text);
        },
        version: (c, k) => {
          scalar('version', '2 or 3', 'int')(c, k);
          side.versionNode = c;
        },
        authentication: (c, k) => this.authentication(c, k, inst, base, side),
        nopreempt: (c, k) => {
          if (!this.flag(c, k)) return;
          inst.preempt = false;
          side.nopreemptNode = c;
          this.record([...base, 'preempt'], c, k);
        },
        preempt: (c, k) => {
          if (!this.flag(c, k)) return;
          inst.preempt = true;
          side.nopreemptNode = undefined;
          this.record([...base, 'preempt'], c, k);
        },
        preempt_delay: (c, k) => {
          const path = [...base, 'preemptDelayS'];
          const expected = 'a number of seconds from 0 to 1000';
          const tok = this.oneArg(c, k, expected, path);
          if (!tok) return;
          const v = this.decimal(tok, k, expected, path);
          if (v === undefined) return;
          inst.preemptDelayS = v;
          side.preemptDelayNode = c;
          this.record(path, tok, k, tok.text);
        },
        virtual_ipaddress: (c, k) => this.addresses(c, k, inst, [...base, 'virtualAddresses']),
        virtual_ipaddress_excluded: (c, k) => this.addresses(c, k, inst, [...base, 'virtualAddressesExcluded']),
        unicast_src_ip: scalar('unicastSourceIp', 'an IP address', 'text'),
        mcast_src_ip: scalar('mcastSourceIp', 'an IP address', 'text'),
        unicast_peer: (c, k) => this.unicastPeers(c, k, inst, base),
        track_interface: (c, k) => this.trackInterfaces(c, k, inst, base, side),
        track_script: (c, k) => this.trackScripts(c, k, inst, base),
        ...this.notifyHandlers(inst, base),
      },
      {
        last: ['interface', 'virtual_router_id', 'priority', 'advert_int', 'version', 'preempt_delay', 'unicast_src_ip', 'mcast_src_ip'],
        first: ['notify_master', 'notify_backup', 'notify_fault', 'notify_stop', 'notify'],
      },
    );
  }

  private authentication(n: ConfNode, key: string, inst: Raw, base: Path, side: InstanceSide): void {
    const block = this.needBlock(n, key, 'authentication { auth_type PASS; auth_pass SECRET }');
    if (!block) return;
    const auth: Raw = {};
    side.authNode = n;
    const path: Path = [...base, 'authentication'];
    this.record(path, n, key);
    this.dispatch(block, key, KW.AUTHENTICATION, {
      auth_type: (c, k) => {
        const tok = this.oneArg(c, k, 'PASS or AH', [...path, 'type']);
        if (!tok) return;
        if (tok.text !== 'PASS' && tok.text !== 'AH') {
          this.error('KQ_ERR_CONFIG_VALUE', tok, k, `found ${show(tok.text)}; expected PASS or AH (upper case, as keepalived requires)`, [...path, 'type']);
          side.authTypeSet = true;
          return;
        }
        auth.type = tok.text;
        side.authTypeSet = true;
        this.record([...path, 'type'], tok, k, tok.text);
      },
      auth_pass: (c, k) => {
        const tok = this.oneArg(c, k, 'a password', [...path, 'password']);
        if (!tok) return;
        auth.password = tok.text;
        side.authPassSet = true;
        this.record([...path, 'password'], tok, k, tok.text);
      },
    });
    inst.authentication = auth;
  }

  /** `IP[/MASK] [dev IF] [label IF:N] [brd IP] [scope S]` per line. */
  private addresses(n: ConfNode, key: string, inst: Raw, path: Path): void {
    const block = this.needBlock(n, key, `${n.key.text} { IP[/MASK] [dev IF] [label LABEL] [brd IP] [scope SCOPE] … }`);
    if (!block) return;
    const field = path[path.length - 1] as string;
    const list = ((inst[field] as Raw[] | undefined) ??= []);
    for (const line of block) {
      const index = list.length;
      const vpath = [...path, index];
      if (!this.noBlock(line, key)) continue;
      const tokens = [line.key, ...line.args];
      const first = tokens[0]!;
      const slash = first.text.indexOf('/');
      const address = slash < 0 ? first.text : first.text.slice(0, slash);
      const vip: Raw = { address };
      let ok = true;
      if (familyOf(address) === undefined) {
        this.error('KQ_ERR_CONFIG_VALUE', first, key, `found ${show(first.text)}; expected IP[/MASK] with an IPv4 or IPv6 address (keepalived skips this line)`);
        continue;
      }
      if (slash >= 0) {
        const prefix = first.text.slice(slash + 1);
        if (!/^\d+$/.test(prefix)) {
          this.error('KQ_ERR_CONFIG_VALUE', first, key, `found ${show(first.text)}; expected a prefix length after '/', e.g. ${address}/24`);
          ok = false;
        } else vip.prefixLength = Number(prefix);
      }
      this.record(vpath, first, key, line.args.length > 0 ? `${first.text} ${line.args.map((a) => a.text).join(' ')}` : first.text);
      this.record([...vpath, 'address'], first, key, address);
      this.record([...vpath, 'prefixLength'], first, key, first.text);
      const optionTerms: Record<string, string> = { dev: 'device', label: 'label', brd: 'broadcast', broadcast: 'broadcast', scope: 'scope' };
      for (let i = 1; i < tokens.length; i++) {
        const opt = tokens[i]!;
        const target = own(optionTerms, opt.text);
        if (target) {
          const value = tokens[i + 1];
          if (!value) {
            this.error('KQ_ERR_CONFIG_VALUE', opt, key, `found no value after '${opt.text}'; expected ${opt.text} VALUE (keepalived skips this address)`);
            ok = false;
            break;
          }
          vip[target] = value.text;
          this.record([...vpath, target], value, key, value.text);
          i++;
        } else if ((KW.VIP_OPTIONS_NOT_IMPLEMENTED as readonly string[]).includes(opt.text)) {
          this.warn('KQ_WARN_CONFIG_NOT_IMPLEMENTED', opt, key, `keepquorum does not implement the address option '${opt.text}'; it is ignored`);
        } else if ((KW.VIP_OPTIONS_WITH_VALUE_NOT_IMPLEMENTED as readonly string[]).includes(opt.text)) {
          this.warn('KQ_WARN_CONFIG_NOT_IMPLEMENTED', opt, key, `keepquorum does not implement the address option '${opt.text}'; it and its value are ignored`);
          i++;
        } else {
          const all = [...Object.keys(optionTerms), ...KW.VIP_OPTIONS_NOT_IMPLEMENTED, ...KW.VIP_OPTIONS_WITH_VALUE_NOT_IMPLEMENTED];
          const hint = familyOf(opt.text) !== undefined ? ' (one address per line)' : suggest(opt.text, all) ? ` (did you mean '${suggest(opt.text, all)}'?)` : '';
          this.error('KQ_ERR_CONFIG_VALUE', opt, key, `found ${show(opt.text)} after ${address}${hint}; expected one of the options dev, label, brd, scope`);
          ok = false;
        }
      }
      if (ok) list.push(vip);
    }
  }

  private unicastPeers(n: ConfNode, key: string, inst: Raw, base: Path): void {
    const block = this.needBlock(n, key, 'unicast_peer { IP … }');
    if (!block) return;
    const peers = ((inst.unicastPeers as string[] | undefined) ??= []);
    for (const line of block) {
      if (!this.noBlock(line, key)) continue;
      const path = [...base, 'unicastPeers', peers.length];
      const [first, ...opts] = [line.key, ...line.args];
      for (let i = 0; i < opts.length; i++) {
        const opt = opts[i]!;
        if (opt.text === 'min_ttl' || opt.text === 'max_ttl') {
          this.warn('KQ_WARN_CONFIG_NOT_IMPLEMENTED', opt, key, `keepquorum does not implement '${opt.text}' (adverts must arrive with TTL 255 in any case); ignored`);
          i++;
        } else {
          const hint = familyOf(opt.text) !== undefined ? ' (one peer per line)' : '';
          this.error('KQ_ERR_CONFIG_VALUE', opt, key, `found ${show(opt.text)} after the peer ${first!.text}${hint}; expected min_ttl N, max_ttl N or nothing`);
        }
      }
      peers.push(first!.text);
      this.record(path, first!, key, first!.text);
    }
  }

  private trackInterfaces(n: ConfNode, key: string, inst: Raw, base: Path, side: InstanceSide): void {
    const block = this.needBlock(n, key, 'track_interface { IF [weight N [reverse]] … }');
    if (!block) return;
    const list = ((inst.trackInterfaces as Raw[] | undefined) ??= []);
    for (const line of block) {
      if (!this.noBlock(line, key)) continue;
      const path = [...base, 'trackInterfaces', list.length];
      const entry: Raw = { name: line.key.text };
      this.record(path, line, key, line.key.text);
      if (this.weightOptions(line, key, path, entry, 'track_interface')) {
        list.push(entry);
        side.trackInterfaceNodes.push(line);
      }
    }
  }

  private trackScripts(n: ConfNode, key: string, inst: Raw, base: Path): void {
    const block = this.needBlock(n, key, 'track_script { NAME [weight N [reverse]] … }');
    if (!block) return;
    const list = ((inst.trackScripts as Raw[] | undefined) ??= []);
    for (const line of block) {
      if (!this.noBlock(line, key)) continue;
      const path = [...base, 'trackScripts', list.length];
      const entry: Raw = { name: line.key.text };
      this.record(path, line, key, line.key.text);
      this.record([...path, 'name'], line, key, line.key.text);
      if (this.weightOptions(line, key, path, entry, 'track_script')) list.push(entry);
    }
  }

  /** `[weight N [reverse|noreverse|no_reverse]]` after a tracked name. */
  private weightOptions(line: ConfNode, key: string, path: Path, entry: Raw, what: string): boolean {
    const [w, value, mod, ...extra] = line.args;
    const usage = `${what} entries are NAME [weight N [reverse]] with N from -253 to 253`;
    if (!w) return true;
    if (w.text !== 'weight') {
      this.error('KQ_ERR_CONFIG_VALUE', w, key, `found ${show(w.text)} after ${line.key.text}; expected 'weight N' or nothing (${usage}; one name per line)`);
      return false;
    }
    if (!value) {
      this.error('KQ_ERR_CONFIG_VALUE', w, key, `found no number after 'weight'; expected ${usage}`);
      return false;
    }
    const v = this.int(value, key, 'an integer from -253 to 253');
    if (v === undefined) return false;
    entry.weight = v;
    this.record([...path, 'weight'], value, key, value.text);
    if (mod) {
      if (mod.text === 'reverse') entry.reverse = true;
      else if (mod.text === 'noreverse' || mod.text === 'no_reverse') entry.reverse = false;
      else {
        this.error('KQ_ERR_CONFIG_VALUE', mod, key, `found ${show(mod.text)} after the weight; expected 'reverse', 'noreverse' or nothing`);
        return false;
      }
    }
    if (extra.length > 0) this.warn('KQ_WARN_CONFIG_SUSPICIOUS', extra[0]!, key, `found extra words; ignored (${usage})`);
    return true;
  }

  // -------------------------------------------------------------------------
  // vrrp_sync_group

  private syncGroup(n: ConfNode, key: string): void {
    const name = this.named(n, key, 'vrrp_sync_group', this.groupByName);
    if (name === undefined) return;
    const ctx = `vrrp_sync_group ${name}`;
    const block = this.needBlock(n, ctx, `vrrp_sync_group ${name} { group { INSTANCE … } }`, 1);
    if (!block) return;
    const groups = this.raw.syncGroups as Raw[];
    const base: Path = ['syncGroups', groups.length];
    const group: Raw = { name, source: { file: n.file, line: n.line } };
    groups.push(group);
    this.record(base, n, ctx);
    this.dispatch(
      block,
      ctx,
      KW.VRRP_SYNC_GROUP,
      {
        group: (c, k) => {
          if (group.instances) {
            this.error('KQ_ERR_CONFIG_DUPLICATE', c, k, `found a second 'group' block; expected one (keepalived ignores the second)`);
            return;
          }
          const list = this.needBlock(c, k, 'group { INSTANCE … }');
          if (!list) return;
          const members: string[] = [];
          this.record([...base, 'instances'], c, k);
          for (const line of list) {
            if (!this.noBlock(line, k)) continue;
            for (const tok of [line.key, ...line.args]) {
              this.record([...base, 'instances', members.length], tok, k, tok.text);
              members.push(tok.text);
            }
          }
          group.instances = members;
        },
        ...this.notifyHandlers(group, base),
      },
      { last: [], first: ['notify_master', 'notify_backup', 'notify_fault', 'notify_stop', 'notify'] },
      ' (instance names go inside group { … })',
    );
  }

  // -------------------------------------------------------------------------
  // keepalived's completion of each instance (vrrp_complete_instance)

  complete(): void {
    const g = this.raw.global as Raw;
    const defaultVersion = g.vrrpVersion === 3 ? 3 : 2;
    (this.raw.instances as Raw[]).forEach((inst, i) => {
      const side = this.instanceSide[i]!;
      const key = (word: string) => `${side.ctx} > ${word}`;
      const family = deriveFamily(inst as never) ?? 4;

      // keepalived (vrrp_complete_instance): an IPv6 instance without a version runs
      // v3 whatever vrrp_version says; an explicit "version 2" stays v2 (it sends
      // VRRPv2 over IPv6, see the captured fixture) unless vrrp_strict is on.
      let version: 2 | 3 = inst.version === 3 ? 3 : inst.version === 2 ? 2 : family === 6 ? 3 : defaultVersion;
      if (family === 6 && version === 2 && g.vrrpStrict === true) {
        if (side.versionNode) {
          this.warn('KQ_WARN_CONFIG_ADJUSTED', side.versionNode, key('version'), 'vrrp_strict: IPv6 cannot use VRRP version 2; version 3 is used, as keepalived does');
        }
        version = 3;
        inst.version = 3;
      }

      if (side.advertMicros !== undefined && side.advertNode) {
        let micros = side.advertMicros;
        const written = side.advertNode.args[0]!.text;
        if (version === 2 && micros % 1_000_000 !== 0) {
          micros = Math.max(1_000_000, Math.floor((micros + 500_000) / 1_000_000) * 1_000_000);
          this.warn('KQ_WARN_CONFIG_ADJUSTED', side.advertNode, key('advert_int'), `VRRPv2 carries whole seconds: advert_int ${written} is rounded to ${micros / 1e6}, as keepalived rounds it (use version 3 for sub-second adverts)`);
        } else if (version === 3 && micros % 10_000 !== 0) {
          micros = Math.round(micros / 10_000) * 10_000;
          this.warn('KQ_WARN_CONFIG_ADJUSTED', side.advertNode, key('advert_int'), `VRRPv3 counts in centiseconds: advert_int ${written} is rounded to ${micros / 1e6}, as keepalived rounds it`);
        }
        if (version === 3 && micros >= 40_960_000) {
          micros = 40_950_000;
          this.warn('KQ_WARN_CONFIG_ADJUSTED', side.advertNode, key('advert_int'), `VRRPv3 intervals stop at 40.95 s (12 bits of centiseconds): advert_int ${written} is set to 40.95, as keepalived sets it`);
        }
        inst.advertIntervalCs = micros / 10_000;
      }

      if (side.authNode) {
        const auth = inst.authentication as Raw;
        if (g.vrrpStrict === true) {
          this.warn('KQ_WARN_CONFIG_ADJUSTED', side.authNode, key('authentication'), 'strict mode (vrrp_strict) does not support authentication; the block is ignored, as keepalived ignores it');
          delete inst.authentication;
        } else if (version === 3) {
          this.warn('KQ_WARN_CONFIG_ADJUSTED', side.authNode, key('authentication'), 'VRRPv3 has no authentication; the block is ignored, as keepalived ignores it');
          delete inst.authentication;
        } else if (side.authTypeSet && auth.type === undefined) {
          delete inst.authentication; // a bad auth_type was reported
        } else if (!side.authTypeSet && !side.authPassSet) {
          this.warn('KQ_WARN_CONFIG_ADJUSTED', side.authNode, key('authentication'), 'the authentication block sets neither auth_type nor auth_pass: no authentication is used');
          delete inst.authentication;
        } else if (!side.authPassSet) {
          this.warn('KQ_WARN_CONFIG_ADJUSTED', side.authNode, key('authentication'), 'auth_type without auth_pass: no authentication is used, as in keepalived (add auth_pass SECRET)');
          delete inst.authentication;
        } else if (!side.authTypeSet) {
          this.warn('KQ_WARN_CONFIG_ADJUSTED', side.authNode, key('authentication'), 'auth_pass without auth_type: no authentication is used, as in keepalived (add auth_type PASS)');
          delete inst.authentication;
        }
      }

      const tracked = inst.trackInterfaces as Raw[] | undefined;
      if (tracked?.some((t) => t.name === inst.interface)) {
        const keep: Raw[] = [];
        tracked.forEach((t, j) => {
          const node = side.trackInterfaceNodes[j]!;
          if (t.name === inst.interface) {
            this.warn('KQ_WARN_CONFIG_ADJUSTED', node, key('track_interface'), `'${String(t.name)}' is the instance's own interface, which is always tracked (down means FAULT); the entry is ignored, as keepalived ignores it`);
            return;
          }
          // entries move up when one is dropped: their locations move with them
          this.record(['instances', i, 'trackInterfaces', keep.length], node, key('track_interface'), node.key.text);
          const weight = node.args[1];
          if (weight) this.record(['instances', i, 'trackInterfaces', keep.length, 'weight'], weight, key('track_interface'), weight.text);
          keep.push(t);
        });
        inst.trackInterfaces = keep;
      }

      if ((inst.authentication as Raw | undefined)?.type === 'AH' && inst.initialState === 'MASTER') {
        this.warn('KQ_WARN_CONFIG_ADJUSTED', side.stateNode ?? side.node, key('state'), 'state MASTER is incompatible with AH authentication; the instance starts as BACKUP, as keepalived makes it');
        inst.initialState = 'BACKUP';
      }
      if (inst.priority === undefined && inst.initialState === 'MASTER') {
        inst.priority = 255;
        this.warn('KQ_WARN_CONFIG_ADJUSTED', side.stateNode ?? side.node, key('state'), 'state MASTER without a priority: keepalived makes the instance the address owner, priority 255 (set a priority to avoid it)');
        if (side.stateNode) this.record(['instances', i, 'priority'], side.stateNode, key('state'));
      }
      if (inst.initialState === undefined && inst.priority === 255) inst.initialState = 'MASTER';
      if (g.vrrpStrict === true && inst.initialState === 'MASTER' && inst.priority !== 255) {
        this.warn('KQ_WARN_CONFIG_ADJUSTED', side.stateNode ?? side.node, key('state'), `strict mode (vrrp_strict) allows state MASTER only for the address owner (priority 255); with priority ${String(inst.priority ?? 100)} the instance starts as BACKUP, as keepalived makes it`);
        inst.initialState = 'BACKUP';
      }

      if (inst.preempt === false && side.nopreemptNode) {
        if (inst.priority === 255) {
          this.warn('KQ_WARN_CONFIG_ADJUSTED', side.nopreemptNode, key('nopreempt'), 'nopreempt does not apply to the address owner (priority 255); it is cleared, as keepalived clears it');
          inst.preempt = true;
        } else if (inst.initialState === 'MASTER') {
          this.warn('KQ_WARN_CONFIG_ADJUSTED', side.nopreemptNode, key('nopreempt'), 'nopreempt does not work with state MASTER; it is cleared, as keepalived clears it (use state BACKUP on every node)');
          inst.preempt = true;
        }
      }
      if (typeof inst.preemptDelayS === 'number' && inst.preemptDelayS > 0 && side.preemptDelayNode) {
        let reason: string | undefined;
        if (inst.initialState === 'MASTER') reason = 'does not work with state MASTER';
        else if (inst.preempt === false) reason = 'has no effect with nopreempt';
        else if (g.vrrpStrict === true) reason = 'is not allowed in strict mode (vrrp_strict)';
        if (reason) {
          this.warn('KQ_WARN_CONFIG_ADJUSTED', side.preemptDelayNode, key('preempt_delay'), `preempt_delay ${reason}; it is reset to 0, as keepalived resets it`);
          inst.preemptDelayS = 0;
        }
      }
    });
  }
}

export { label };
