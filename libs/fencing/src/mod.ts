/**
 * libs/fencing: power off (or isolate) a node before its VIP goes to another,
 * STONITH-style (ARCHITECTURE.md, "Leases, quorum and fencing"). Two backends
 * behind one Fencer: an HMAC-signed HTTP webhook (webhook.ts, where the wire
 * contract is written down) and Pacemaker's fence_* agents (fence-agent.ts).
 * Nothing here decides whether to fence: the arbiter does, and publishes each
 * attempt reported through onAttempt.
 */
export {
  FENCE_ACTIONS,
  type AttemptOutcome,
  type FenceAction,
  type FenceAttempt,
  type FenceBackend,
  type FenceCallOptions,
  type Fencer,
  type FenceRequest,
  type FenceResult,
} from './types.js';
export {
  buildWebhookBody,
  describeUrl,
  IDEMPOTENCY_HEADER,
  MIN_SECRET_BYTES,
  SIGNATURE_HEADER,
  signPayload,
  TIMESTAMP_HEADER,
  verifySignature,
  WEBHOOK_DEFAULTS,
  WebhookFencer,
  type SignatureCheck,
  type VerifyOptions,
  type WebhookFencerOptions,
} from './webhook.js';
export {
  AGENT_DEFAULTS,
  checkFenceAgent,
  FenceAgentFencer,
  formatAgentStdin,
  parseFenceAgentMetadata,
  probeFenceAgentMetadata,
  runFenceAgent,
  secretValues,
  type AgentOptionValue,
  type AgentRun,
  type FenceAgentFencerOptions,
  type FenceAgentMetadata,
  type FenceAgentParameter,
  type RunAgentOptions,
} from './fence-agent.js';
export {
  createFencer,
  gatewayGate,
  readSecretFile,
  withGates,
  type AgentFencerConfig,
  type FenceGate,
  type FencerConfig,
  type GatewayGateOptions,
  type GateVerdict,
  type WebhookFencerConfig,
} from './fencer.js';
export { backoffDelay, type BackoffOptions } from './retry.js';
export { isSecretKey, redactText, REDACTED } from './redact.js';
