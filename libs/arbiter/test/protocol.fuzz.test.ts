/**
 * Property and fuzz tests of the agent <-> arbiter wire (protocol.ts): random
 * bytes and mutations of valid claims, renewals, releases, replies, orders and
 * heartbeats parse or are refused with `<what>: <field path>: <problem>`, never
 * thrown; what parses is exactly what the schema allows, and a valid message
 * survives encode -> parse unchanged. Fixed seed, bounded runs
 * (../../common/test/fuzz.ts).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { z } from 'zod';
import {
  agentRequestSchema,
  arbiterReplySchema,
  encodeMessage,
  heartbeatSchema,
  nodeOrderSchema,
  parseMessage,
  PROTOCOL_VERSION,
  type AgentRequest,
  type ArbiterReply,
  type Heartbeat,
  type NodeOrder,
  type Parsed,
} from '../src/protocol.js';
import { fuzzParams } from '../../common/test/fuzz.js';

type Message = AgentRequest | ArbiterReply | NodeOrder | Heartbeat;

const KINDS: Array<{ what: string; schema: z.ZodType<Message> }> = [
  { what: 'request', schema: agentRequestSchema as z.ZodType<Message> },
  { what: 'reply', schema: arbiterReplySchema as z.ZodType<Message> },
  { what: 'order', schema: nodeOrderSchema as z.ZodType<Message> },
  { what: 'heartbeat', schema: heartbeatSchema as z.ZodType<Message> },
];

/** `<what>: not UTF-8`, `<what>: not JSON (…)` or `<what>: <path>: <problem>`. */
function assertParsed(r: Parsed<Message>, what: string, schema: z.ZodType<Message>): void {
  if (r.ok) {
    assert.ok(schema.safeParse(r.value).success, 'what parses, the schema accepts');
    return;
  }
  assert.equal(typeof r.reason, 'string');
  assert.match(r.reason, new RegExp(`^${what}: (not UTF-8|not JSON \\(.+\\)|(\\(message\\)|[A-Za-z0-9_.]+): .+)$`, 's'), `reason does not name the field: ${r.reason}`);
}

// ---------------------------------------------------------------------------
// Valid messages

const token = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const epoch = fc.nat({ max: 2 ** 40 });
const ms = fc.nat({ max: 10 ** 7 });
const reason = fc.string({ maxLength: 80 });
const v = fc.constant(PROTOCOL_VERSION as 1);

const request: fc.Arbitrary<AgentRequest> = fc.oneof(
  fc.record({ type: fc.constant('claim' as const), v, instance: token, node: token }),
  fc.record({ type: fc.constantFrom('renew' as const, 'release' as const), v, instance: token, node: token, epoch }),
);
const reply: fc.Arbitrary<ArbiterReply> = fc.oneof(
  fc.record({ type: fc.constant('grant' as const), v, instance: token, epoch, validForMs: ms, reason }),
  fc.record({ type: fc.constant('renewed' as const), v, instance: token, epoch, validForMs: ms }),
  fc.record({ type: fc.constant('released' as const), v, instance: token, epoch }),
  fc.record({ type: fc.constant('veto' as const), v, instance: token, reason, retryAfterMs: ms }, { requiredKeys: ['type', 'v', 'instance', 'reason'] }),
  fc.record({ type: fc.constant('refuse' as const), v, instance: token, reason }, { requiredKeys: ['type', 'v', 'reason'] }),
  fc.record({ type: fc.constant('wait' as const), v, instance: token, reason, retryAfterMs: ms }),
);
const order: fc.Arbitrary<NodeOrder> = fc.record({ type: fc.constantFrom('offer' as const, 'orderDemote' as const), v, instance: token, epoch, reason });
const limit = fc.integer({ min: 1, max: 3_600_000 });
const heartbeat: fc.Arbitrary<Heartbeat> = fc.record({
  v,
  node: token,
  bootId: fc.string({ minLength: 1, maxLength: 64 }),
  intervalMs: fc.integer({ min: 1, max: 60_000 }),
  gateway: fc.constantFrom('up' as const, 'down' as const, 'unknown' as const),
  instances: fc.array(
    fc.record(
      {
        instance: token,
        state: fc.constantFrom('INIT' as const, 'BACKUP' as const, 'MASTER' as const, 'FAULT' as const, 'CLAIMING' as const),
        priority: fc.nat(255),
        vip: fc.boolean(),
        mode: fc.constantFrom('strict' as const, 'failsafe' as const, 'off' as const),
        fencing: fc.constantFrom('off' as const, 'best-effort' as const, 'required' as const),
        epoch,
        timing: fc.record({ leaseTtlMs: limit, renewIntervalMs: limit, requestTimeoutMs: limit, safetyMarginMs: fc.nat(3_600_000) }),
      },
      { requiredKeys: ['instance', 'state', 'priority', 'vip', 'mode', 'fencing'] },
    ),
    { maxLength: 4 },
  ),
});
const VALID: Record<string, fc.Arbitrary<Message>> = { request, reply, order, heartbeat };

// ---------------------------------------------------------------------------
// Mutations

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(value)) value.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
  else if (value !== null && typeof value === 'object') for (const [k, x] of Object.entries(value)) out.push(...paths(x, [...prefix, k]));
  return out;
}

const oddValue: fc.Arbitrary<Json> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
  fc.constantFrom<Json>(-1, 0.5, 2 ** 53, 1e308, '', 'a.b', 'x'.repeat(65), 'x'.repeat(2000), 'claim', 'grant', 2, null, [], {}),
);
const oddKey = fc.constantFrom('extra', 'constructor', '__proto__', 'toString', 'type', 'v');

function mutate(message: Message, edits: ReadonlyArray<[number, Json | undefined, string | undefined]>): unknown {
  let value: unknown = structuredClone(message);
  for (const [pick, replacement, extra] of edits) {
    const all = paths(value);
    const path = all[pick % all.length]!;
    if (path.length === 0) {
      value = replacement ?? null;
      continue;
    }
    let node = value as Record<string | number, unknown>;
    for (const seg of path.slice(0, -1)) node = node[seg] as Record<string | number, unknown>;
    const last = extra ?? path[path.length - 1]!;
    if (replacement === undefined) delete node[last];
    else if (last === '__proto__') Object.defineProperty(node, last, { value: replacement, enumerable: true, configurable: true, writable: true });
    else node[last] = replacement;
  }
  return value;
}

const bytesOf = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

describe('arbiter protocol parsing under fuzzing', () => {
  for (const { what, schema } of KINDS) {
    test(`${what}: random bytes are refused with a reason naming the problem, never thrown`, () => {
      fc.assert(
        fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.string({ maxLength: 200 }).map((s) => new TextEncoder().encode(s))), (data) => {
          assertParsed(parseMessage(schema, data, what), what, schema);
        }),
        fuzzParams(800),
      );
    });

    test(`${what}: a valid message survives encode and parse unchanged`, () => {
      fc.assert(
        fc.property(VALID[what]!, (message) => {
          const r = parseMessage(schema, encodeMessage(message), what);
          if (!r.ok) assert.fail(`valid ${what} refused: ${r.reason}`);
          assert.deepEqual(r.value, JSON.parse(JSON.stringify(message)));
        }),
        fuzzParams(400),
      );
    });

    test(`${what}: mutations of a valid message parse or are refused naming the field`, () => {
      fc.assert(
        fc.property(VALID[what]!, fc.array(fc.tuple(fc.nat(), fc.option(oddValue, { nil: undefined }), fc.option(oddKey, { nil: undefined })), { minLength: 1, maxLength: 3 }), (message, edits) => {
          assertParsed(parseMessage(schema, bytesOf(mutate(message, edits)), what), what, schema);
        }),
        fuzzParams(800),
      );
    });

    test(`${what}: byte damage to a valid message parses or is refused with a reason`, () => {
      fc.assert(
        fc.property(VALID[what]!, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 3 }), (message, damage) => {
          const data = Buffer.from(encodeMessage(message));
          for (const [at, value] of damage) data[at % data.length] = value;
          assertParsed(parseMessage(schema, data, what), what, schema);
        }),
        fuzzParams(500),
      );
    });
  }

  test('a request names the field it gets wrong: instance, node, epoch, type, v', () => {
    const base = { type: 'renew', v: 1, instance: 'VI_1', node: 'a1', epoch: 3 };
    const cases: Array<[unknown, RegExp]> = [
      [{ ...base, instance: 'a.b' }, /^request: instance: /],
      [{ ...base, node: '' }, /^request: node: /],
      [{ ...base, epoch: -1 }, /^request: epoch: /],
      [{ ...base, type: 'steal' }, /^request: type: /],
      [{ ...base, v: 2 }, /^request: v: /],
      [{ ...base, extra: 1 }, /^request: \(message\): .*extra/],
      [[base], /^request: \(message\): /],
    ];
    for (const [value, re] of cases) {
      const r = parseMessage(agentRequestSchema, bytesOf(value), 'request');
      assert.equal(r.ok, false, JSON.stringify(value));
      if (!r.ok) assert.match(r.reason, re);
    }
  });
});
