/**
 * libs/events: the audit trail's envelope and per-type schemas, subject names,
 * stream provisioning, the publisher with its durable outbox journal, and readers
 * for history and tail. Nothing here decides anything (ARCHITECTURE.md, Events).
 */
export {
  AGENT_STATES,
  dataSchema,
  EVENT_TYPE_NAMES,
  EVENT_TYPES,
  isKnownEventType,
  OUTPUT_EXCERPT_CHARS,
  outputExcerpt,
  type EventData,
  type EventInput,
  type EventType,
  type EventTypes,
  type EventTypeSpec,
} from './schemas.js';
export { decodeEvent, envelopeSchema, eventId, makeEnvelope, type AnyEnvelope, type DecodeResult, type Envelope, type EnvelopeFields } from './envelope.js';
export {
  assertToken,
  eventSubject,
  filterSubject,
  isEventTypeName,
  parseSubject,
  STREAM_NAME,
  STREAM_SUBJECTS,
  SUBJECT_PREFIX,
  tokenProblem,
  type SubjectFilter,
  type SubjectParts,
} from './subjects.js';
export {
  DEFAULT_STREAM_SETTINGS,
  ensureStream,
  isStreamNotFound,
  planStream,
  replicasFor,
  streamConfig,
  type EnsureOptions,
  type StreamChange,
  type StreamPlan,
  type StreamSettings,
} from './stream.js';
export {
  decodeAckSlot,
  encodeAckSlot,
  encodeLine,
  Journal,
  nodeJournalFs,
  scanSegment,
  type DegradedReport,
  type JournalEntry,
  type JournalFile,
  type JournalFs,
  type JournalOptions,
  type JournalRecovery,
  type JournalStats,
  type SegmentScan,
} from './journal.js';
export { EventPublisher, type Backlog, type EventPublisherOptions, type PublisherCounters, type PublisherStats, type PublishOptions } from './publisher.js';
export { ACK_LATENCY_BOUNDS_S, type LatencyHistogram } from './ack-latency.js';
export { natsConnectOptions, natsConnector, type NatsSettings, type NatsTlsSettings } from './connect.js';
export {
  collectHistory,
  EventReader,
  EventSieve,
  readHistory,
  tail,
  type Gap,
  type InvalidSample,
  type ReadFilter,
  type ReaderOptions,
  type ReadItem,
  type ReadSummary,
} from './reader.js';
