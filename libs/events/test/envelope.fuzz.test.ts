/**
 * Property and fuzz tests of the event decoder and of the journal's line and
 * ack-slot readers: random bytes, mutations of valid envelopes (every event
 * type) and of journal segments never throw; every refusal is one of the
 * decoder's reasons, naming the field. Fixed seed, bounded runs
 * (../../common/test/fuzz.ts).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeEvent, EVENT_TYPE_NAMES, eventSubject, makeEnvelope, scanSegment, type EventType } from '../src/mod.js';
import { decodeAckSlot, encodeAckSlot, encodeLine } from '../src/journal.js';
import { SAMPLES } from './samples.js';
import { fuzzParams } from '../../common/test/fuzz.js';

/** Every reason decodeEvent gives, each naming what is wrong and where. */
const REASONS = [
  /^not UTF-8$/,
  /^not JSON$/,
  /^envelope: ((id|type|v|cluster|node|instance|seq|at|data)(: | ))?.+/,
  /^unknown event type ".*"$/,
  /^[a-z][a-z0-9_.-]* v\d+ is not a known version \(known: [\d, ]+\)$/,
  /^[a-z][a-z0-9_.-]* v\d+ data: .+/,
  /^subject .* is not an event subject$/,
  /^subject .* does not match the envelope \(.+\)$/,
];

function assertDecoded(r: ReturnType<typeof decodeEvent>, subject?: string): void {
  if (r.ok) {
    assert.ok(EVENT_TYPE_NAMES.includes(r.event.type), `decoded type ${r.event.type} is known`);
    if (subject !== undefined) assert.equal(eventSubject(r.event.cluster, r.event.node, r.event.type), subject);
    return;
  }
  assert.equal(typeof r.reason, 'string');
  assert.ok(REASONS.some((re) => re.test(r.reason)), `reason is not one of the decoder's: ${r.reason}`);
}

const fields = { cluster: 'prod', node: 'lb1', bootId: '0a1b2c3d', seq: 7, instance: 'VI_1' };
const ENVELOPES = EVENT_TYPE_NAMES.map((type) => ({
  type,
  env: makeEnvelope(type as EventType, SAMPLES[type as EventType] as never, fields) as unknown as Record<string, unknown>,
  subject: eventSubject('prod', 'lb1', type),
}));

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function paths(v: unknown, prefix: string[] = []): string[][] {
  const out: string[][] = [prefix];
  if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

function setAt(root: unknown, path: readonly string[], value: Json | undefined): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(root) as Record<string, unknown>;
  let node: Record<string, unknown> = copy;
  for (const seg of path.slice(0, -1)) node = node[seg] as Record<string, unknown>;
  const last = path[path.length - 1]!;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

const oddValue: fc.Arbitrary<Json> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
  fc.constantFrom<Json>(0, -1, 0.5, 2 ** 53, -0, '', 'a.b', '*', '>', 'x'.repeat(2000), '2024-05-01T03:12:00Z', '2024-13-01T03:12:00.000Z', 'vrrp.transition', 'no.such', null, [], {}, { __proto__: 1 } as Json),
);
/** A valid envelope with a few fields replaced, removed or added. */
const mutatedEnvelope = fc
  .constantFrom(...ENVELOPES)
  .chain((e) =>
    fc.record({
      e: fc.constant(e),
      edits: fc.array(fc.tuple(fc.constantFrom(...paths(e.env).filter((p) => p.length > 0)), fc.option(oddValue, { nil: undefined }), fc.option(fc.constantFrom('extra', 'constructor', '__proto__', 'toString'), { nil: undefined })), { minLength: 1, maxLength: 3 }),
    }),
  )
  .map(({ e, edits }) => {
    let v: unknown = e.env;
    for (const [path, value, extra] of edits) {
      try {
        v = setAt(v, extra !== undefined ? [...path.slice(0, -1), extra] : path, value);
      } catch {
        // an earlier edit removed the parent
      }
    }
    return { text: JSON.stringify(v), subject: e.subject };
  });

const subjectArb = fc.oneof(fc.constantFrom(...ENVELOPES.map((e) => e.subject)), fc.constantFrom('ha.prod.evt.lb2.vip.added', 'ha..evt..', 'ha.prod.evt.lb1', '', '.', 'ha.prod.evt.lb1.x'), fc.string({ maxLength: 40 }));

describe('event decoder under fuzzing', () => {
  test('random bytes and strings are refused with one of the decoder reasons, never thrown', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 100 })), fc.option(subjectArb, { nil: undefined }), (input, subject) => {
        assertDecoded(decodeEvent(input, subject === undefined ? {} : { subject }), subject);
      }),
      fuzzParams(2000),
    );
  });

  test('random JSON values are refused with the envelope field named, never thrown', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => {
        assertDecoded(decodeEvent(JSON.stringify(v)));
      }),
      fuzzParams(1000),
    );
  });

  test('mutations of a valid envelope of every type decode or are refused naming the field, with or without a subject', () => {
    fc.assert(
      fc.property(mutatedEnvelope, fc.boolean(), ({ text, subject }, withSubject) => {
        assertDecoded(decodeEvent(text, withSubject ? { subject } : {}), withSubject ? subject : undefined);
        assertDecoded(decodeEvent(new TextEncoder().encode(text)));
      }),
      fuzzParams(1500),
    );
  });

  test('byte damage to a valid envelope decodes or is refused with one of the decoder reasons', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ENVELOPES), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }), fc.nat(), (e, damage, cut) => {
        const bytes = Buffer.from(JSON.stringify(e.env));
        for (const [at, value] of damage) bytes[at % bytes.length] = value;
        assertDecoded(decodeEvent(bytes.subarray(0, bytes.length - (cut % 4)), { subject: e.subject }), e.subject);
      }),
      fuzzParams(1500),
    );
  });
});

describe('journal readers under fuzzing', () => {
  const entry = fc.record({ seq: fc.integer({ min: 1, max: 1_000_000 }), env: fc.constantFrom(...ENVELOPES) });

  test('a damaged segment is scanned without throwing; the entries it yields are lines that were written whole, in rising seq', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 12 }), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 6 }), fc.nat(), fc.uint8Array({ maxLength: 40 }), (entries, damage, cut, tail) => {
        const lines = entries.map((x) => encodeLine(x.seq, `lb1-b-${x.seq}`, x.env.subject, JSON.stringify(x.env.env)).line);
        const written = new Set(lines.map((l) => l.toString('latin1')));
        let buf = Buffer.concat([Buffer.from('#kq-journal 1\n'), ...lines]);
        for (const [at, value] of damage) if (buf.length > 0) buf[at % buf.length] = value;
        const removed = cut % 3 === 0 ? cut % (buf.length + 1) : 0; // a third of the time, a write cut short
        buf = Buffer.concat([buf.subarray(0, buf.length - removed), Buffer.from(tail)]);
        const seen: number[] = [];
        const scan = scanSegment(buf, (e) => {
          const line = encodeLine(e.seq, e.id, e.subject, Buffer.from(e.payload).toString('utf8')).line.toString('latin1');
          assert.ok(written.has(line), `a yielded entry is a line as written: ${line}`);
          seen.push(e.seq);
        });
        for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `seq rises: ${seen.join(',')}`);
        assert.ok(scan.valid >= seen.length && scan.valid <= entries.length, `valid ${scan.valid} of ${entries.length} written`);
        assert.ok(scan.tornBytes >= 0 && scan.tornBytes <= buf.length);
        assert.ok(scan.corrupt >= 0 && scan.duplicates >= 0);
      }),
      fuzzParams(1000),
    );
  });

  test('an undamaged segment yields every entry whose seq rises, and counts the rest as duplicates', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 12 }), (entries) => {
        const buf = Buffer.concat([Buffer.from('#kq-journal 1\n'), ...entries.map((x) => encodeLine(x.seq, `lb1-b-${x.seq}`, x.env.subject, JSON.stringify(x.env.env)).line)]);
        const seen: number[] = [];
        const scan = scanSegment(buf, (e) => {
          seen.push(e.seq);
          assertDecoded(decodeEvent(e.payload, { subject: e.subject }), e.subject);
        });
        let highest = 0;
        const expected = entries.filter((x) => (x.seq > highest ? ((highest = x.seq), true) : false)).map((x) => x.seq);
        assert.deepEqual(seen, expected);
        assert.equal(scan.valid, entries.length);
        assert.equal(scan.duplicates, entries.length - expected.length);
        assert.equal(scan.corrupt, 0);
        assert.equal(scan.tornBytes, 0);
      }),
      fuzzParams(500),
    );
  });

  test('a damaged ack slot reads as null or as the values written, never as others', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.array(fc.tuple(fc.nat(255), fc.nat(255)), { maxLength: 3 }), (counter, acked, damage) => {
        const slot = encodeAckSlot(counter, acked);
        for (const [at, value] of damage) slot[at] = value;
        const r = decodeAckSlot(slot);
        if (r !== null) assert.deepEqual(r, { counter, ackedThrough: acked });
      }),
      fuzzParams(1000),
    );
  });
});
