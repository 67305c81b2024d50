/**
 * Network fuzzing of a live agent pair: a third host on the segment sends a
 * bounded stream (a few thousand, seeded) of random and mutated protocol-112
 * packets — random bytes, and valid adverts encoded with libs/vrrp then
 * damaged (bytes set, flipped, cut, spliced; the checksum sometimes rewritten
 * so the damage reaches the checks behind it), in VRRPv2 and v3, under odd
 * TTLs. Each packet's fate is worked out beforehand with the same codec and
 * checks the agent runs, and only packets that must be refused are sent.
 *
 * Both agents keep running, neither changes state (no transition at all),
 * and each counts exactly the refusals expected, reason by reason.
 *
 * VRRPv2 with PASS authentication, so the auth and interval checks are live.
 * Fixed seed, KQ_FUZZ_RUNS / KQ_FUZZ_SEED for a longer run (docs/testing.md).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Lab, labUnavailableReason, type LabHost } from '../lab/lab.js';
import { vipOf } from '../lab/topology.js';
import { keepalivedConf } from '../lab/keepalived.js';
import { type AgentHandle } from '../lab/agent.js';
import { sendRawVrrp, startAttackedPair } from '../lab/attacked-pair.js';
import { waitUntil } from '../lab/wait.js';
import {
  checkAgainstInstance,
  checkDestination,
  decodeAdvertisement,
  encodeAdvertisement,
  internetChecksum,
  parseAddressOfFamily,
  vrrpPseudoHeader,
  type Advertisement,
  type InstanceExpectation,
  type PacketMeta,
  type RejectReason,
} from '../../libs/vrrp/src/mod.js';
import { fuzzRuns, fuzzSeed } from '../../libs/common/test/fuzz.js';

const skip = labUnavailableReason();
const VIP = vipOf(1);
const PASSWORD = 'kq-fuzz1';
const ATTACKER = { name: 'x1', ipv4: '198.18.1.98' };
const GROUP = '224.0.0.18';
/** Packets sent by default; KQ_FUZZ_RUNS changes it (x10 for ten times as many). */
const PACKETS = fuzzRuns(2500);

const conf = (priority: number) =>
  keepalivedConf({ vrid: VIP.vrid, priority, advertInt: 1, version: 2, authPass: PASSWORD, vips: [VIP.ipv4Cidr] });

/** What the agents check an advert against (services/agent agent.ts builds the same from conf()). */
const EXPECTATION: InstanceExpectation = {
  vrid: VIP.vrid,
  version: 2,
  advertIntervalCs: 100,
  addresses: [VIP.ipv4],
  authType: 1,
  authPassword: PASSWORD,
};

/**
 * The reason an agent refuses this packet with, by the path PacketIntake
 * takes for a multicast instance: decode, instance by VRID, destination,
 * instance checks. Null when the agent would accept it.
 */
function expectedRefusal(payload: Buffer, ttl: number): RejectReason | null {
  const meta: PacketMeta = { family: 4, source: ATTACKER.ipv4, destination: GROUP, ttl };
  const decoded = decodeAdvertisement(payload, meta, { v3Checksum: 'pseudo-header' });
  if (!decoded.ok) return decoded.reason;
  if (decoded.advert.vrid !== VIP.vrid) return 'vrid';
  const destination = checkDestination(GROUP, { unicast: false, multicastGroup: GROUP });
  if (!destination.ok) return destination.reason;
  const checked = checkAgainstInstance(decoded.advert, EXPECTATION);
  return checked.ok ? null : checked.reason;
}

// ---------------------------------------------------------------------------
// The packets

const baseAdvert: fc.Arbitrary<Advertisement> = fc.oneof(
  fc.record({
    version: fc.constant(2 as const),
    family: fc.constant(4 as const),
    vrid: fc.oneof({ weight: 4, arbitrary: fc.constant(VIP.vrid) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 255 }) }),
    priority: fc.integer({ min: 1, max: 254 }),
    advertIntervalCs: fc.constantFrom(100, 100, 100, 200, 25500),
    addresses: fc.constantFrom<string[][]>([VIP.ipv4], [VIP.ipv4, '198.18.10.77'], ['198.18.10.77'], []).map((a) => [...a]),
    authType: fc.constantFrom(1, 1, 1, 0, 2, 7),
    authPassword: fc.constantFrom(PASSWORD, PASSWORD, 'guessed!', '', 'kq-fuzz1-longer'),
  }),
  fc.record({
    version: fc.constant(3 as const),
    family: fc.constant(4 as const),
    vrid: fc.constant(VIP.vrid),
    priority: fc.integer({ min: 1, max: 254 }),
    advertIntervalCs: fc.constantFrom(100, 5, 4095),
    addresses: fc.constant([VIP.ipv4]).map((a) => [...a]),
    authType: fc.constant(0),
    authPassword: fc.constant(''),
  }),
);

type Mutation = { kind: 'set' | 'flip' | 'truncate' | 'append' | 'splice'; at: number; value: number; bytes: Uint8Array };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('set' as const, 'set' as const, 'flip' as const, 'truncate' as const, 'append' as const, 'splice' as const),
  at: fc.nat(64),
  value: fc.nat(255),
  bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }),
});

function mutate(payload: Buffer, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(payload);
  for (const m of mutations) {
    const i = m.at % b.length;
    if (m.kind === 'set') b[i] = m.value;
    else if (m.kind === 'flip') b[i] = b[i]! ^ (1 << (m.value % 8));
    else if (m.kind === 'truncate') b = b.subarray(0, Math.max(1, i));
    else if (m.kind === 'append') b = Buffer.concat([b, m.bytes]);
    else b = Buffer.concat([b.subarray(0, i), m.bytes, b.subarray(i)]);
  }
  return b;
}

/** Rewrite the checksum as a sender would have computed it, so the damage reaches the checks after it. */
function fixChecksum(payload: Buffer): void {
  const version = payload[0]! >> 4;
  if (payload.length < 8 || (version !== 2 && version !== 3)) return;
  payload.writeUInt16BE(0, 6);
  const pseudo = vrrpPseudoHeader(
    { version, family: 4, source: parseAddressOfFamily(ATTACKER.ipv4, 4)!, destination: parseAddressOfFamily(GROUP, 4)!, v3Checksum: 'pseudo-header' },
    payload.length,
  );
  payload.writeUInt16BE(pseudo ? internetChecksum(pseudo, payload) : internetChecksum(payload), 6);
}

const ttl = fc.oneof({ weight: 9, arbitrary: fc.constant(255) }, { weight: 1, arbitrary: fc.constantFrom(1, 64, 128, 254) });
const packet: fc.Arbitrary<{ payload: Buffer; ttl: number }> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ payload: fc.uint8Array({ minLength: 1, maxLength: 80 }).map((b) => Buffer.from(b)), ttl }) },
  {
    weight: 3,
    arbitrary: fc
      .record({ advert: baseAdvert, mutations: fc.array(mutation, { maxLength: 3 }), fix: fc.boolean(), ttl })
      .map(({ advert, mutations, fix, ttl }) => {
        const payload = mutate(encodeAdvertisement(advert, { source: ATTACKER.ipv4, destination: GROUP }), mutations);
        if (fix) fixChecksum(payload);
        return { payload, ttl };
      }),
  },
);

/** The seeded stream: only packets the agents must refuse (an accepted one could rightly change the state). */
function stream(): Array<{ payload: Buffer; ttl: number; reason: RejectReason }> {
  const out: Array<{ payload: Buffer; ttl: number; reason: RejectReason }> = [];
  let seed = fuzzSeed();
  while (out.length < PACKETS) {
    for (const p of fc.sample(packet, { seed: seed++, numRuns: PACKETS })) {
      const reason = expectedRefusal(p.payload, p.ttl);
      if (reason !== null && out.length < PACKETS) out.push({ ...p, reason });
    }
  }
  return out;
}


const total = (counts: Record<string, number>, except: readonly string[] = []) =>
  Object.entries(counts).reduce((sum, [reason, n]) => (except.includes(reason) ? sum : sum + n), 0);

describe('network fuzzing of a live agent pair', { skip }, () => {
  let lab: Lab;
  let x: LabHost;
  let agentA: AgentHandle;
  let agentB: AgentHandle;

  before(async () => {
    ({ lab, x, agentA, agentB } = await startAttackedPair(ATTACKER, conf));
  });

  after(async () => {
    await lab?.destroy();
  });

  test(`${PACKETS} random and mutated protocol-112 packets: both agents keep running, keep their state and count every refusal under its reason`, async (t) => {
    const packets = stream();
    const expected: Record<string, number> = {};
    for (const p of packets) expected[p.reason] = (expected[p.reason] ?? 0) + 1;
    t.diagnostic(`seed ${fuzzSeed()}, refusals expected by reason: ${JSON.stringify(expected)}`);
    // The stream is varied: most of the decoder's and the instance checks' reasons occur.
    for (const reason of ['truncated', 'ttl', 'version', 'type', 'checksum', 'length', 'vrid', 'auth', 'interval', 'address_count', 'address_list']) {
      assert.ok((expected[reason] ?? 0) > 0, `the stream has packets refused as ${reason}: ${JSON.stringify(expected)}`);
    }

    const before = new Map<AgentHandle, Record<string, number>>();
    for (const agent of [agentA, agentB]) before.set(agent, { ...((await agent.status()).refused['eth0/4'] ?? {}) });
    const transitionsBefore = agentA.transitions.length + agentB.transitions.length;

    await sendRawVrrp(x, 'fuzz', packets.map((p, i) => ({ label: `fuzz ${i}`, payload: p.payload, ttl: p.ttl })), GROUP);

    for (const agent of [agentA, agentB]) {
      const was = before.get(agent)!;
      const delta = (now: Record<string, number>) => {
        const d: Record<string, number> = {};
        for (const reason of new Set([...Object.keys(now), ...Object.keys(was)])) {
          const n = (now[reason] ?? 0) - (was[reason] ?? 0);
          if (n !== 0) d[reason] = n;
        }
        return d;
      };
      // Drained when as many refusals as packets sent are counted (own adverts looping back aside).
      let counted: Record<string, number> = {};
      await waitUntil(
        `${agent.host.name} to count ${packets.length} refusals`,
        async () => {
          counted = delta((await agent.status()).refused['eth0/4'] ?? {});
          return total(counted, ['own_packet']) >= packets.length;
        },
        60_000,
        500,
      ).catch((e: Error) => assert.fail(`${e.message}: counted ${JSON.stringify(counted)}, expected ${JSON.stringify(expected)}`));
      const { own_packet: _own, ...refused } = counted;
      assert.deepEqual(refused, expected, `${agent.host.name}: refusals by reason`);
      assert.ok(agent.process.running, `${agent.host.name}'s agent is still running`);
    }
    const states = [(await agentA.status()).instances[0]!.state, (await agentB.status()).instances[0]!.state];
    assert.deepEqual(states, ['MASTER', 'BACKUP']);
    assert.equal(agentA.transitions.length + agentB.transitions.length, transitionsBefore, 'no transition happened');
  });
});
