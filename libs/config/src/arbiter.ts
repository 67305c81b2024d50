/**
 * Each instance's use of the arbiter, resolved from the configuration as a
 * whole (after an overlay and the command line have had their say): mode,
 * fencing and lease timing, and the problems with them, located in the file
 * that set them.
 *
 * The rules:
 * - mode: the instance's own `arbiter.mode`, else the top-level `arbiter.mode`
 *   (`--mode`), else failsafe.
 * - Without NATS settings no arbiter can answer: every instance runs in mode
 *   off, with a warning when another mode was asked for.
 * - With NATS but without `node.gateway`: the arbiter never grants a lease to a
 *   node that reports no gateway, so asking for strict or failsafe is an error;
 *   when nobody asked, the instance runs in mode off (NATS for the event log only,
 *   as before the arbiter existed).
 * - timing: what is set (instance over top level) on top of the defaults that
 *   follow from the advert interval, checked against libs/arbiter's rules
 *   (R + 2Q + M <= T, ...).
 *
 * Pure and free of zod: the agent calls it at start without loading the schemas.
 */
import type { ErrorCode } from '../../common/src/errors.js';
import { DEFAULT_MAX_CLOCK_SKEW_MS, defaultLeaseTiming, validateLeaseTiming } from '../../arbiter/src/timing.js';
import type { ArbiterMode, FencingPolicy, LeaseTiming } from '../../arbiter/src/types.js';
import { masterDownIntervalMs } from '../../vrrp/src/timers.js';
import type { Diagnostic } from './diagnostics.js';
import type { AgentConfig, LeaseTimingConfig, SourceRef, VrrpInstanceConfig } from './model.js';

export interface ResolvedArbiter {
  readonly instance: string;
  readonly mode: ArbiterMode;
  /** The mode the configuration asked for, when it asked (undefined: the default). */
  readonly askedMode: ArbiterMode | undefined;
  readonly fencing: FencingPolicy;
  readonly timing: LeaseTiming;
  /** Which timing values were set rather than derived from the advert interval. */
  readonly timingSet: ReadonlyArray<keyof LeaseTiming>;
  readonly masterDownIntervalMs: number;
  readonly maxClockSkewMs: number;
}

export interface ArbiterResolution {
  readonly instances: readonly ResolvedArbiter[];
  readonly diagnostics: readonly Diagnostic[];
}

const TIMING_KEYS = ['leaseTtlMs', 'renewIntervalMs', 'requestTimeoutMs', 'safetyMarginMs'] as const;

export function resolveArbiter(config: AgentConfig): ArbiterResolution {
  const diagnostics: Diagnostic[] = [];
  const top = config.arbiter;
  const skew = top?.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
  const out: ResolvedArbiter[] = [];
  const wantedWithoutNats: string[] = [];

  config.instances.forEach((inst, index) => {
    const own = inst.arbiter;
    const askedMode = own?.mode ?? top?.mode;
    const fencing = own?.fencing ?? top?.fencing ?? 'off';
    let mode: ArbiterMode = askedMode ?? 'failsafe';
    if (!config.nats) {
      if (mode !== 'off' && askedMode !== undefined) wantedWithoutNats.push(`${inst.name} (${askedMode})`);
      mode = 'off';
    } else if (!config.node.gateway && mode !== 'off') {
      if (askedMode !== undefined) {
        diagnostics.push(at('error', 'KQ_ERR_CONFIG_VALUE', modeOrigin(config, inst, index), `instance ${inst.name}: mode ${askedMode} needs the node's gateway (node.gateway, --gateway IP): the arbiter never grants a lease to a node that does not report its gateway; set it, or mode off`));
      }
      mode = 'off';
    }

    const set: Partial<Record<keyof LeaseTiming, { value: number; where: Where }>> = {};
    for (const [layer, where] of [
      [top?.timing, timingWhere(config, undefined, top?.timing)],
      [own?.timing, timingWhere(config, { inst, index }, own?.timing)],
    ] as const) {
      if (!layer) continue;
      for (const key of TIMING_KEYS) {
        const v = (layer as LeaseTimingConfig)[key];
        if (v !== undefined) set[key] = { value: v, where: { ...where, key: `${where.key}.${key}` } };
      }
    }
    const advertMs = inst.advertIntervalCs * 10;
    const defaults = defaultLeaseTiming(advertMs);
    const timing: LeaseTiming = Object.freeze({
      leaseTtlMs: set.leaseTtlMs?.value ?? defaults.leaseTtlMs,
      renewIntervalMs: set.renewIntervalMs?.value ?? defaults.renewIntervalMs,
      requestTimeoutMs: set.requestTimeoutMs?.value ?? defaults.requestTimeoutMs,
      safetyMarginMs: set.safetyMarginMs?.value ?? defaults.safetyMarginMs,
    });
    const mdi = masterDownIntervalMs(inst.version, inst.priority === 255 ? 254 : inst.priority, inst.advertIntervalCs);
    if (mode !== 'off') {
      for (const issue of validateLeaseTiming(timing, { maxClockSkewMs: skew, masterDownIntervalMs: mdi, fencing })) {
        const where = set[issue.key]?.where ?? advertWhere(config, inst, index);
        const derived = set[issue.key] ? '' : ` (${issue.key} ${timing[issue.key]} ms follows from the advert interval ${advertMs} ms)`;
        diagnostics.push(at(issue.severity, issue.code, where, `instance ${inst.name}: ${issue.message}${derived}`));
      }
    }
    out.push({
      instance: inst.name,
      mode,
      askedMode,
      fencing,
      timing,
      timingSet: TIMING_KEYS.filter((k) => set[k] !== undefined),
      masterDownIntervalMs: mdi,
      maxClockSkewMs: skew,
    });
  });

  if (wantedWithoutNats.length > 0) {
    const where = modeOrigin(config, undefined, undefined);
    diagnostics.push(
      at('warning', 'KQ_WARN_CONFIG_ADJUSTED', where, `no NATS servers are configured (--nats, or nats in the overlay or config), so no arbiter can answer: ${wantedWithoutNats.join(', ')} run${wantedWithoutNats.length === 1 ? 's' : ''} as plain VRRP (mode off)`),
    );
  }
  return { instances: out, diagnostics };
}

/** One line per instance for `ha-agent --check`. */
export function describeArbiter(r: ResolvedArbiter): string {
  const mdi = Math.round(r.masterDownIntervalMs * 10) / 10;
  if (r.mode === 'off') return `instance ${r.instance}: arbiter mode off (plain VRRP, Master_Down_Interval ${mdi} ms)`;
  const t = r.timing;
  const set = r.timingSet.length > 0 ? `; set: ${r.timingSet.join(', ')}, the rest from the advert interval` : '; all from the advert interval';
  return (
    `instance ${r.instance}: arbiter mode ${r.mode}, fencing ${r.fencing}; lease TTL ${t.leaseTtlMs} ms, renewal every ${t.renewIntervalMs} ms, ` +
    `request timeout ${t.requestTimeoutMs} ms, safety margin ${t.safetyMarginMs} ms (R + 2Q + M = ${t.renewIntervalMs + 2 * t.requestTimeoutMs + t.safetyMarginMs} <= T ${t.leaseTtlMs}); ` +
    `Master_Down_Interval ${mdi} ms${set}`
  );
}

interface Where {
  file: string;
  line?: number | undefined;
  key: string;
}

function at(severity: 'error' | 'warning', code: ErrorCode, where: Where, message: string): Diagnostic {
  const d: Diagnostic = { severity, code, message, file: where.file, key: where.key };
  if (where.line !== undefined) d.line = where.line;
  return d;
}

function instanceKey(inst: VrrpInstanceConfig, index: number): string {
  // keepalived.conf instances are named by their block; native ones by their index.
  return inst.source && !/\.(ya?ml|json)$/i.test(inst.source.file) ? `vrrp_instance ${inst.name}` : `instances[${index}]`;
}

function fromSource(source: SourceRef | undefined, fallbackFile: string, key: string): Where {
  return source ? { file: source.file, line: source.line, key } : { file: fallbackFile, key };
}

function configFile(config: AgentConfig): string {
  return config.instances.find((i) => i.source)?.source?.file ?? '(configuration)';
}

function timingWhere(config: AgentConfig, owner: { inst: VrrpInstanceConfig; index: number } | undefined, timing: LeaseTimingConfig | undefined): Where {
  const base = owner ? `${instanceKey(owner.inst, owner.index)}.arbiter.timing` : 'arbiter.timing';
  const source = timing?.source ?? (owner ? owner.inst.arbiter?.source ?? owner.inst.source : config.arbiter?.source);
  return fromSource(source, source ? source.file : '(command line)', base);
}

function modeOrigin(config: AgentConfig, inst: VrrpInstanceConfig | undefined, index: number | undefined): Where {
  if (inst && index !== undefined && inst.arbiter?.mode !== undefined) {
    return fromSource(inst.arbiter.source ?? inst.source, configFile(config), `${instanceKey(inst, index)}.arbiter.mode`);
  }
  const source = config.arbiter?.source;
  return fromSource(source, source ? source.file : '(command line)', 'arbiter.mode');
}

function advertWhere(config: AgentConfig, inst: VrrpInstanceConfig, index: number): Where {
  const native = instanceKey(inst, index).startsWith('instances[');
  return fromSource(inst.source, configFile(config), native ? `instances[${index}].advertIntervalCs` : `vrrp_instance ${inst.name} > advert_int`);
}
