/**
 * libs/config: the agent's configuration model and its two input formats.
 *
 *   loadAgentConfig(path)        YAML (.yaml/.yml) or JSON (.json), zod-validated
 *   loadKeepalivedConf(path)     an existing keepalived.conf, as keepalived reads it
 *
 * Both return `{config, diagnostics}`: a deep-frozen AgentConfig and the
 * warnings. On any error they throw a ConfigError whose message lists every
 * error with file:line, key, what was found and what was expected.
 */
export {
  AgentConfigInputSchema,
  ARBITER_MODES,
  ArbiterDefaultsSchema,
  ArbiterSettingsSchema,
  FENCING_POLICIES,
  GatewaySchema,
  LeaseTimingSchema,
  AgentConfigSchema,
  AuthenticationSchema,
  GarpSchema,
  GlobalSchema,
  HttpProbeSchema,
  IcmpProbeSchema,
  TcpProbeSchema,
  IpAddressSchema,
  NatsSchema,
  NatsTlsSchema,
  NodeSchema,
  NotifyCommandSchema,
  NotifySchema,
  ScriptUserSchema,
  SourceRefSchema,
  SyncGroupSchema,
  TrackInterfaceSchema,
  TrackScriptRefSchema,
  TrackScriptSchema,
  VirtualAddressSchema,
  VrrpInstanceSchema,
  deepFreeze,
  deriveFamily,
  familyOf,
  type AgentConfig,
  type AgentConfigInput,
  type ArbiterDefaults,
  type ArbiterSettings,
  type GatewayConfig,
  type LeaseTimingConfig,
  type AuthenticationConfig,
  type GarpConfig,
  type GlobalConfig,
  type HttpProbeConfig,
  type IcmpProbeConfig,
  type TcpProbeConfig,
  type IpFamily,
  type NatsConfig,
  type NodeConfig,
  type NotifyCommand,
  type NotifyConfig,
  type ScriptUser,
  type SourceRef,
  type SyncGroupConfig,
  type TrackInterfaceConfig,
  type TrackScriptConfig,
  type TrackScriptRef,
  type VirtualAddress,
  type VrrpInstanceConfig,
} from './model.js';
export { resolveArbiter, describeArbiter, type ArbiterResolution, type ResolvedArbiter } from './arbiter.js';
export { applyOverlay, loadAgentConfig, loadOverlay, OVERLAY_KEYS, parseAgentConfig, parseOverlay, type LoadResult, type Overlay } from './load.js';
export { loadKeepalivedConf, parseKeepalivedConf, type KeepalivedLoadOptions } from './keepalived/load.js';
export { splitCommandLine } from './keepalived/lexer.js';
export {
  ConfigError,
  formatDiagnostic,
  formatDiagnostics,
  type Diagnostic,
  type Severity,
} from './diagnostics.js';
