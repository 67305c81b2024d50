/**
 * libs/checks: what tells an instance whether this node should serve.
 * The verdict (tracker.ts) is pure; scripts, probes, the periodic runner and
 * notify scripts do the I/O. Nothing here changes VRRP state: callers feed
 * effectivePriority() into the state machine (ARCHITECTURE.md).
 */
export {
  effectivePriority,
  initialTracker,
  isGood,
  OWNER_PRIORITY,
  trackerStep,
  type PriorityVerdict,
  type TrackedObject,
  type TrackerConfig,
  type TrackerState,
  type TrackerStep,
  type TrackStatus,
} from './tracker.js';
export {
  checkScript,
  DEFAULT_KILL_GRACE_MS,
  DEFAULT_OUTPUT_BYTES,
  defaultScriptRunAs,
  isExecutableBy,
  KEEPALIVED_SCRIPT_USER,
  prepareScript,
  resolveRunAs,
  runScript,
  unsafePathParts,
  type PreparedScript,
  type RunAs,
  type RunScriptOptions,
  type ScriptGlobals,
  type ScriptResult,
  type ScriptSecurityOptions,
  type ScriptUserConfig,
} from './script-runner.js';
export {
  buildEchoRequest,
  DEFAULT_STATUS_CODES,
  formatStatusCodes,
  internetChecksum,
  matchEcho,
  probeHttp,
  probeIcmp,
  probeTcp,
  statusAccepted,
  type HttpProbeOptions,
  type IcmpProbeOptions,
  type ProbeResult,
  type StatusCodeRange,
  type TcpProbeOptions,
} from './probes.js';
export {
  CheckRunner,
  httpCheck,
  icmpCheck,
  realTimers,
  scriptCheck,
  tcpCheck,
  trackScriptCheck,
  type CheckDefinition,
  type CheckFn,
  type CheckOutcome,
  type CheckResultEvent,
  type CheckRunnerOptions,
  type CheckTimers,
} from './check-runner.js';
export {
  DEFAULT_NOTIFY_TIMEOUT_MS,
  Notifier,
  notifyArguments,
  notifyInvocations,
  prepareNotify,
  type NotifierOptions,
  type NotifyInvocation,
  type NotifyKey,
  type NotifyRunEvent,
  type NotifyState,
  type NotifyTransition,
  type NotifyType,
  type PreparedNotify,
} from './notify.js';
