/**
 * Validation shared by both input formats: zod for types, ranges and unknown
 * keys; cross-checks for what spans sections (references, duplicates, address
 * families); lints for what is legal but probably not meant. Every finding is
 * turned into a diagnostic located in the file it came from through a Locator,
 * which each format implements.
 */
import type { ErrorCode } from '../../common/src/errors.js';
import type { z } from 'zod';
import { DiagnosticSink, show, suggest } from './diagnostics.js';
import { AgentConfigSchema, deepFreeze, deriveFamily, familyOf, type AgentConfig } from './model.js';

export type Path = readonly (string | number)[];

export interface Location {
  file: string;
  line?: number | undefined;
  column?: number | undefined;
  /** The key in the file's own vocabulary. */
  key: string;
  /** The value as written in the file, when it differs from what the schema saw. */
  found?: string | undefined;
}

export interface Locator {
  locate(path: Path): Location;
  /** The file's word for a model field, e.g. virtualAddressesExcluded → virtual_ipaddress_excluded. */
  term(field: string): string;
}

export interface ValidateOptions {
  /** Paths already reported by the format's own parser: zod issues under them are not repeated. */
  reported?: ReadonlySet<string>;
}

export function pathKey(path: Path): string {
  return path.join('.');
}

/** Validate a raw (parsed but untyped) config. Returns the frozen config, or undefined if there were errors. */
export function validateAgentConfig(
  raw: unknown,
  locator: Locator,
  sink: DiagnosticSink,
  options: ValidateOptions = {},
): AgentConfig | undefined {
  const reported = options.reported ?? new Set<string>();
  const isReported = (path: Path): boolean => {
    for (let n = path.length; n >= 0; n--) if (reported.has(pathKey(path.slice(0, n)))) return true;
    return false;
  };

  const before = sink.errorCount;
  const result = AgentConfigSchema.safeParse(raw, { reportInput: true });
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (isReported(issue.path as Path)) continue;
      issueToDiagnostic(issue, locator, sink);
    }
  }
  crossCheck(raw, locator, sink, isReported);
  if (sink.errorCount > before || !result.success) return undefined;
  lint(result.data, locator, sink);
  return deepFreeze(result.data);
}

// ---------------------------------------------------------------------------
// zod issues → diagnostics

function issueToDiagnostic(issue: z.core.$ZodIssue, locator: Locator, sink: DiagnosticSink): void {
  const path = issue.path as Path;
  if (issue.code === 'unrecognized_keys') {
    const allowed = allowedKeys(path);
    for (const key of issue.keys) {
      const loc = locator.locate([...path, key]);
      const hint = suggest(key, allowed);
      const expected = allowed.length > 0 ? `one of ${allowed.join(', ')}` : 'no further keys';
      sink.error('KQ_ERR_CONFIG_UNKNOWN_KEY', loc, `unknown key ${show(key)}${hint ? ` (did you mean '${hint}'?)` : ''}; expected ${expected}`);
    }
    return;
  }
  const loc = locator.locate(path);
  const input = 'input' in issue ? issue.input : undefined;
  const params = issue.code === 'custom' ? (issue.params as { sentence?: boolean; code?: ErrorCode } | undefined) : undefined;
  if (params?.sentence) {
    sink.error(params.code ?? 'KQ_ERR_CONFIG_VALUE', loc, issue.message);
    return;
  }
  const found = input === undefined ? 'nothing (the key is missing)' : loc.found !== undefined ? `'${loc.found}'` : show(input);
  sink.error(input === undefined ? 'KQ_ERR_CONFIG_SCHEMA' : 'KQ_ERR_CONFIG_VALUE', loc, `found ${found}; expected ${issue.message}`);
}

/** The keys an object schema at `path` accepts, for unknown-key messages. */
function allowedKeys(path: Path): string[] {
  let schema: unknown = AgentConfigSchema;
  schema = unwrap(schema);
  for (const seg of path) {
    const def = defOf(schema);
    if (!def) return [];
    if (def.type === 'object' && typeof seg === 'string') schema = unwrap((def.shape as Record<string, unknown>)[seg]);
    else if (def.type === 'array') schema = unwrap(def.element);
    else if (def.type === 'record') schema = unwrap(def.valueType);
    else return [];
  }
  const def = defOf(schema);
  // `source` is filled in by the loaders, not written by users
  return def?.type === 'object' ? Object.keys(def.shape as object).filter((k) => k !== 'source') : [];
}

interface AnyDef {
  type: string;
  [k: string]: unknown;
}

function defOf(schema: unknown): AnyDef | undefined {
  return (schema as { _zod?: { def?: AnyDef } } | undefined)?._zod?.def;
}

function unwrap(schema: unknown): unknown {
  for (let i = 0; i < 20; i++) {
    const def = defOf(schema);
    if (!def) return schema;
    if (['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch'].includes(def.type)) schema = def.innerType;
    else if (def.type === 'pipe') {
      // preprocess is pipe(transform → schema); a transform after a schema is pipe(schema → transform)
      const inDef = defOf(def.in);
      schema = inDef?.type === 'transform' ? def.out : def.in;
    } else return schema;
  }
  return schema;
}

// ---------------------------------------------------------------------------
// Cross-section checks, on the raw input (defensively: zod may have failed)

type Raw = Record<string, unknown>;

function isObj(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function where(loc: Location): string {
  return loc.line !== undefined ? `${loc.file}:${loc.line}` : loc.file;
}

function addressOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v.split('/')[0];
  return isObj(v) ? str(v.address) : undefined;
}

const familyName = (f: number | undefined) => (f === 6 ? 'IPv6' : 'IPv4');

function crossCheck(raw: unknown, locator: Locator, sink: DiagnosticSink, isReported: (p: Path) => boolean): void {
  if (!isObj(raw)) return;
  const fail = (code: ErrorCode, path: Path, message: string) => {
    if (!isReported(path)) sink.error(code, locator.locate(path), message);
  };
  const global = isObj(raw.global) ? raw.global : {};
  const defaultVersion = global.vrrpVersion === 3 ? 3 : 2;
  const scripts = isObj(raw.scripts) ? Object.keys(raw.scripts) : [];
  const instances = arr(raw.instances);

  const names = new Map<string, number>();
  const vrids = new Map<string, number>();
  instances.forEach((inst, i) => {
    if (!isObj(inst)) return;
    const at = (...rest: (string | number)[]): Path => ['instances', i, ...rest];
    const iname = str(inst.name);
    if (iname !== undefined) {
      const first = names.get(iname);
      if (first !== undefined) {
        fail('KQ_ERR_CONFIG_DUPLICATE', at('name'), `instance name '${iname}' is already used by the instance at ${where(locator.locate(['instances', first]))}; names must be unique`);
      } else names.set(iname, i);
    }

    const vips = arr(inst.virtualAddresses);
    const family = (inst.family === 4 || inst.family === 6 ? inst.family : undefined) ?? deriveFamily(inst as never);
    const firstVip = addressOf(vips[0]);
    vips.forEach((vip, j) => {
      const a = addressOf(vip);
      const f = a !== undefined ? familyOf(a) : undefined;
      if (f !== undefined && family !== undefined && f !== family) {
        const origin = inst.family !== undefined ? `the instance's family (${familyName(family)})` : `the first address ${firstVip} (${familyName(family)})`;
        fail('KQ_ERR_CONFIG_VALUE', at('virtualAddresses', j), `found ${familyName(f)} address ${a}; expected an ${familyName(family)} address like ${origin}: all advertised addresses share one family (keepalived drops the others); list it under ${locator.term('virtualAddressesExcluded')}`);
      }
    });
    for (const [field, value] of [['unicastSourceIp', inst.unicastSourceIp], ['mcastSourceIp', inst.mcastSourceIp]] as const) {
      const f = typeof value === 'string' ? familyOf(value) : undefined;
      if (f !== undefined && family !== undefined && f !== family) {
        fail('KQ_ERR_CONFIG_VALUE', at(field), `found ${familyName(f)} address ${value}; expected an ${familyName(family)} address, the family of the instance`);
      }
    }
    arr(inst.unicastPeers).forEach((peer, j) => {
      const f = typeof peer === 'string' ? familyOf(peer) : undefined;
      if (f !== undefined && family !== undefined && f !== family) {
        fail('KQ_ERR_CONFIG_VALUE', at('unicastPeers', j), `found ${familyName(f)} peer ${peer}; expected an ${familyName(family)} address, the family of the instance`);
      }
    });

    const version = inst.version === 3 || inst.version === 2 ? inst.version : family === 6 ? 3 : defaultVersion;
    const advert = inst.advertIntervalCs;
    if (typeof advert === 'number' && Number.isInteger(advert)) {
      if (version === 2 && advert % 100 !== 0) {
        fail('KQ_ERR_CONFIG_VALUE', at('advertIntervalCs'), `found ${advert} cs; expected a multiple of 100 cs: VRRPv2 carries the interval in whole seconds`);
      } else if (version === 3 && advert > 4095) {
        fail('KQ_ERR_CONFIG_VALUE', at('advertIntervalCs'), `found ${advert} cs; expected at most 4095 cs: the VRRPv3 interval field has 12 bits`);
      }
    }
    if (version === 3 && isObj(inst.authentication)) {
      fail('KQ_ERR_CONFIG_VALUE', at('authentication'), 'found authentication on a VRRPv3 instance; expected none: VRRPv3 has no authentication (RFC 5798)');
    }
    if (global.vrrpStrict === true) {
      if (isObj(inst.authentication)) {
        fail('KQ_ERR_CONFIG_VALUE', at('authentication'), 'found authentication with strict VRRP mode (vrrpStrict); expected none: strict mode follows RFC 3768/5798, which have no authentication');
      }
      const priority = typeof inst.priority === 'number' ? inst.priority : 100;
      if (inst.initialState === 'MASTER' && priority !== 255) {
        fail('KQ_ERR_CONFIG_VALUE', at('initialState'), `found initialState MASTER with priority ${priority} in strict VRRP mode; expected MASTER only for the address owner (priority 255)`);
      }
    }

    const iface = str(inst.interface);
    const vrid = inst.vrid;
    if (iface !== undefined && typeof vrid === 'number' && family !== undefined) {
      const key = `${iface}|${family}|${vrid}`;
      const other = vrids.get(key);
      const otherInst = other !== undefined ? instances[other] : undefined;
      if (other !== undefined && isObj(otherInst) && !disjointUnicast(inst, otherInst)) {
        fail('KQ_ERR_CONFIG_DUPLICATE', at('vrid'), `VRID ${vrid} is already used on ${iface} (${familyName(family)}) by instance '${str(otherInst.name) ?? other}' at ${where(locator.locate(['instances', other]))}; expected a VRID unique per interface and family`);
      } else if (other === undefined) vrids.set(key, i);
    }

    arr(inst.trackScripts).forEach((ref, j) => {
      const sname = isObj(ref) ? str(ref.name) : undefined;
      if (sname !== undefined && !scripts.includes(sname)) {
        const hint = suggest(sname, scripts);
        const defined = scripts.length > 0 ? `one of ${scripts.join(', ')}` : 'a defined script, but none is defined';
        fail('KQ_ERR_CONFIG_REFERENCE', at('trackScripts', j, 'name'), `found '${sname}', which is not a defined script${hint ? ` (did you mean '${hint}'?)` : ''}; expected ${defined}`);
      }
    });
  });

  const membership = new Map<string, number>();
  arr(raw.syncGroups).forEach((group, g) => {
    if (!isObj(group)) return;
    arr(group.instances).forEach((member, j) => {
      if (typeof member !== 'string') return;
      const path: Path = ['syncGroups', g, 'instances', j];
      if (!names.has(member)) {
        const hint = suggest(member, names.keys());
        fail('KQ_ERR_CONFIG_REFERENCE', path, `found '${member}', which is not a defined instance${hint ? ` (did you mean '${hint}'?)` : ''}; expected one of ${[...names.keys()].join(', ') || '(no instance is defined)'}`);
        return;
      }
      const other = membership.get(member);
      if (other !== undefined && other !== g) {
        const otherGroup = arr(raw.syncGroups)[other];
        fail('KQ_ERR_CONFIG_DUPLICATE', path, `instance '${member}' is already in sync group '${isObj(otherGroup) ? str(otherGroup.name) : other}' at ${where(locator.locate(['syncGroups', other]))}; an instance can be in one sync group only`);
      } else membership.set(member, g);
    });
  });
}

/** keepalived allows a VRID twice on one interface when both are unicast with no peer in common. */
function disjointUnicast(a: Raw, b: Raw): boolean {
  const pa = arr(a.unicastPeers).filter((p): p is string => typeof p === 'string');
  const pb = arr(b.unicastPeers).filter((p): p is string => typeof p === 'string');
  return pa.length > 0 && pb.length > 0 && !pa.some((p) => pb.includes(p));
}

// ---------------------------------------------------------------------------
// Lints: legal, probably not meant

function lint(config: AgentConfig, locator: Locator, sink: DiagnosticSink): void {
  const warn = (code: ErrorCode, path: Path, message: string) => sink.warn(code, locator.locate(path), message);
  if (config.instances.length === 0) {
    warn('KQ_WARN_CONFIG_SUSPICIOUS', ['instances'], 'no VRRP instance is defined; the agent will have nothing to do');
  }
  config.instances.forEach((inst, i) => {
    if (inst.authentication?.type === 'PASS' && inst.authentication.password.length > 8) {
      warn('KQ_WARN_CONFIG_ADJUSTED', ['instances', i, 'authentication', 'password'], `the password has ${inst.authentication.password.length} characters; only the first 8 are sent and compared, as in keepalived (a password never appears in messages)`);
    }
    if (inst.authentication?.type === 'AH') {
      warn('KQ_WARN_CONFIG_NOT_IMPLEMENTED', ['instances', i, 'authentication', 'type'], 'IPsec AH authentication is deprecated (RFC 3768) and keepquorum does not implement it on the wire; adverts will not be accepted by peers expecting AH');
    }
    if (inst.virtualAddresses.length === 0) {
      warn('KQ_WARN_CONFIG_SUSPICIOUS', ['instances', i], `instance '${inst.name}' has no virtual address; at least one is sensible (keepalived says the same)`);
    }
    if (inst.virtualAddresses.length > 255) {
      warn('KQ_WARN_CONFIG_SUSPICIOUS', ['instances', i, 'virtualAddresses'], `${inst.virtualAddresses.length} virtual addresses do not fit the 8-bit count of an advert; expected at most 255 (move the rest to ${locator.term('virtualAddressesExcluded')})`);
    }
    if (!inst.preempt && inst.initialState === 'MASTER') {
      warn('KQ_WARN_CONFIG_SUSPICIOUS', ['instances', i, 'preempt'], 'preempt is off but the initial state is MASTER: nopreempt only works when the instance starts as BACKUP');
    }
  });
  config.syncGroups.forEach((g, i) => {
    if (g.instances.length === 1) {
      warn('KQ_WARN_CONFIG_SUSPICIOUS', ['syncGroups', i, 'instances'], `sync group '${g.name}' has only one instance; a sync group moves several instances together`);
    }
  });
}
