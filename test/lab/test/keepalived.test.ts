import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Lab, labUnavailableReason } from '../lab.js';
import { buildSegment, vipOf } from '../topology.js';
import { KEEPALIVED, keepalivedConf, keepalivedVersion, startKeepalived } from '../keepalived.js';
import { startSplitBrainWatch } from '../split-brain.js';
import { waitUntil } from '../wait.js';

const skip = labUnavailableReason() ?? (existsSync(KEEPALIVED) ? undefined : `${KEEPALIVED} is not installed`);

test('keepalived reports its version', { skip: existsSync(KEEPALIVED) ? undefined : `${KEEPALIVED} is not installed` }, async () => {
  assert.match(await keepalivedVersion(), /^\d+\.\d+\.\d+$/);
});

test('a keepalived pair (VRRPv3, advert 0.1 s, priorities 100/90) puts the VIP on exactly one host', { skip, timeout: 120_000 }, async () => {
  const lab = await Lab.create();
  try {
    const segment = await buildSegment(lab, { keepalivedPeers: 2 });
    const [ka1, ka2] = segment.keepalived;
    assert.ok(ka1 && ka2);
    const vip = vipOf(1);
    const watch = await startSplitBrainWatch([ka1, ka2], vip.ipv4, { durationMs: 120_000 });
    const conf = (priority: number, routerId: string): string =>
      keepalivedConf({ routerId, vrid: vip.vrid, priority, advertInt: 0.1, version: 3, vips: [vip.ipv4Cidr] });
    const k1 = await startKeepalived(ka1, conf(100, 'ka1'));
    const k2 = await startKeepalived(ka2, conf(90, 'ka2'));
    await k1.waitForState('VI_1', 'MASTER', 20_000);
    await k2.waitForState('VI_1', 'BACKUP', 20_000);
    await waitUntil('the VIP on ka1 only', async () => (await ka1.hasAddress(vip.ipv4)) && !(await ka2.hasAddress(vip.ipv4)), 10_000);
    await waitUntil('the watch to agree', () => watch.holdersNow().join() === 'ka1', 10_000);

    // SIGTERM: keepalived sends priority 0 and removes its VIP; the backup takes over.
    await k1.stop();
    await k2.waitForState('VI_1', 'MASTER', 20_000);
    await waitUntil('the VIP on ka2 only', async () => !(await ka1.hasAddress(vip.ipv4)) && (await ka2.hasAddress(vip.ipv4)), 10_000);
    await waitUntil('the watch to agree', () => watch.holdersNow().join() === 'ka2', 10_000);
    await k2.stop();
    const result = await watch.stop();
    // Informational: a graceful hand-over between two keepalived nodes.
    console.log(`keepalived pair: split brain ${result.splitBrainMs} ms; holders ${result.holders.map((h) => h.holders.join('+') || '-').join(' → ')}`);
  } finally {
    await lab.destroy();
  }
});
