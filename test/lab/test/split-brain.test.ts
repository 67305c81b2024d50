import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeSplitBrain, startSplitBrainWatch, type HostTimeline } from '../split-brain.js';
import { Lab, labUnavailableReason } from '../lab.js';
import { agentPair, vipOf } from '../topology.js';
import { waitUntil } from '../wait.js';

const skip = labUnavailableReason();
const BASE = 7_000_000_000_000n;
const at = (ms: number): bigint => BASE + BigInt(ms) * 1_000_000n;
/** A timeline from "ms:held" steps, e.g. [[0, true], [100, false]]. */
const tl = (host: string, steps: Array<[number, boolean]>, endMs: number): HostTimeline => ({
  host,
  samples: steps.map(([ms, held]) => ({ t: at(ms), held })),
  endNs: at(endMs),
});

test('hand-over without overlap is no split brain', () => {
  const r = computeSplitBrain([tl('a1', [[0, true], [100, false]], 300), tl('b1', [[0, false], [110, true]], 300)]);
  assert.equal(r.splitBrainMs, 0);
  assert.deepEqual(
    r.holders.map((h) => [Number(h.fromNs - BASE) / 1e6, Number(h.toNs - BASE) / 1e6, h.holders]),
    [[0, 100, ['a1']], [100, 110, []], [110, 300, ['b1']]],
  );
});

test('two holders at once count for as long as both hold', () => {
  const r = computeSplitBrain([tl('a1', [[0, true], [100, false]], 300), tl('b1', [[0, false], [80, true]], 300)]);
  assert.equal(r.splitBrainMs, 20);
  assert.deepEqual(r.holders.map((h) => h.holders), [['a1'], ['a1', 'b1'], ['b1']]);
});

test('three holders are one split brain, not two', () => {
  const r = computeSplitBrain([
    tl('a1', [[0, true], [100, false]], 200),
    tl('b1', [[0, false], [50, true], [150, false]], 200),
    tl('c1', [[0, false], [60, true], [70, false]], 200),
  ]);
  assert.equal(r.splitBrainMs, 50);
});

test('split brain that lasts to the end counts to the first sampler that stopped', () => {
  const r = computeSplitBrain([tl('a1', [[0, true]], 500), tl('b1', [[0, false], [200, true]], 400)]);
  assert.equal(r.splitBrainMs, 200);
  assert.equal(r.toNs, at(400));
});

test('the window starts when every host was observed', () => {
  // b1 was only observed from 50 on: a1's earlier sole holding is outside the window.
  const r = computeSplitBrain([tl('a1', [[0, true], [120, false]], 300), tl('b1', [[50, true], [200, false]], 300)]);
  assert.equal(r.fromNs, at(50));
  assert.equal(r.splitBrainMs, 70);
  assert.equal(computeSplitBrain([tl('a1', [[0, true], [120, false]], 300), tl('b1', [[50, true], [200, false]], 300)], { from: at(100), to: at(110) }).splitBrainMs, 10);
});

test('nothing observed: no figure to speak of', () => {
  assert.equal(computeSplitBrain([]).splitBrainMs, 0);
  assert.equal(computeSplitBrain([{ host: 'a1', samples: [], endNs: at(10) }]).splitBrainMs, 0);
});

test('the sampler sees a VIP added and removed, link down, and a powered-off host', { skip, timeout: 60_000 }, async () => {
  const lab = await Lab.create();
  try {
    const host = await lab.addHost(agentPair(1).a);
    const vip = vipOf(1);
    const watch = await startSplitBrainWatch([host], vip.ipv4, { durationMs: 60_000 });
    const holds = (): boolean => watch.holdersNow().includes(host.name);
    assert.equal(holds(), false);
    await host.ip(['addr', 'add', vip.ipv4Cidr, 'dev', 'eth0']);
    await waitUntil('the sampler to see the VIP', holds, 5000);
    await host.ip(['addr', 'del', vip.ipv4Cidr, 'dev', 'eth0']);
    await waitUntil('the sampler to see the VIP gone', () => !holds(), 5000);
    await host.ip(['addr', 'add', vip.ipv4Cidr, 'dev', 'eth0']);
    await waitUntil('the VIP back', holds, 5000);
    await host.setInterface(false);
    await waitUntil('an admin-down interface not to hold the VIP', () => !holds(), 5000);
    await host.setInterface(true);
    await waitUntil('the VIP back after link up', holds, 5000);
    // The address stays configured; only the cable is pulled.
    await host.powerOff();
    await waitUntil('a powered-off host not to hold the VIP', () => !holds(), 5000);
    assert.ok(watch.samplers.get(host.name)?.running, 'the sampler survives powerOff');
    await host.powerOn();
    await waitUntil('the stale VIP held again after power on', holds, 5000);
    const r = await watch.stop();
    assert.equal(r.splitBrainMs, 0);
    const seen = r.holders.map((h) => h.holders.join(','));
    assert.deepEqual(seen, ['', 'a1', '', 'a1', '', 'a1', '', 'a1']);
  } finally {
    await lab.destroy();
  }
});

test('two hosts holding one VIP at once make split brain > 0', { skip, timeout: 60_000 }, async () => {
  const lab = await Lab.create();
  try {
    const { a, b } = agentPair(1);
    const hosts = [await lab.addHost(a), await lab.addHost(b)];
    const vip = vipOf(1);
    const watch = await startSplitBrainWatch(hosts, vip.ipv4, { durationMs: 60_000 });
    for (const h of hosts) await h.ip(['addr', 'add', vip.ipv4Cidr, 'dev', 'eth0']);
    await waitUntil('both samplers to see the VIP', () => watch.holdersNow().length === 2, 5000);
    // Both samplers reported the VIP held before either host dropped it, so the
    // overlap is positive whatever the machine's load: the watch must see it.
    for (const h of hosts) await h.ip(['addr', 'del', vip.ipv4Cidr, 'dev', 'eth0']);
    await waitUntil('both samplers to see it gone', () => watch.holdersNow().length === 0, 5000);
    const r = await watch.stop();
    assert.ok(r.splitBrainMs > 0, `splitBrainMs ${r.splitBrainMs}`);
    assert.ok(r.holders.some((h) => h.holders.length === 2));
  } finally {
    await lab.destroy();
  }
});

test('the sampler watches IPv6 VIPs too', { skip, timeout: 60_000 }, async () => {
  const lab = await Lab.create();
  try {
    const host = await lab.addHost(agentPair(1).b);
    const vip = vipOf(1);
    const watch = await startSplitBrainWatch([host], vip.ipv6, { durationMs: 60_000 });
    await host.ip(['addr', 'add', vip.ipv6Cidr, 'dev', 'eth0', 'nodad']);
    await waitUntil('the sampler to see the IPv6 VIP', () => watch.holdersNow().length === 1, 5000);
    await host.ip(['addr', 'del', vip.ipv6Cidr, 'dev', 'eth0']);
    await waitUntil('the IPv6 VIP gone', () => watch.holdersNow().length === 0, 5000);
    await watch.stop();
  } finally {
    await lab.destroy();
  }
});
