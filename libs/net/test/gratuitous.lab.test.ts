import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, labUnavailableReason, type LabHost } from '../../../test/lab/lab.js';
import { KqError } from '../../common/src/errors.js';
import { KEEPALIVED_GARP_DEFAULTS, buildGratuitousArp, buildUnsolicitedNa, garpSchedule } from '../src/mod.js';
import { runFixture } from '../fixtures/lab-helpers.js';

const skip = labUnavailableReason();
const MAC = Buffer.from([0x02, 0, 0, 0, 0, 0x01]);

test('a gratuitous ARP is the request keepalived sends: broadcast, sender = target = VIP, sender MAC = ours', () => {
  const frame = buildGratuitousArp('198.18.10.1', MAC);
  const expected = Buffer.from(
    'ffffffffffff' + '020000000001' + '0806' + // Ethernet: broadcast, from us, ARP
      '0001' + '0800' + '06' + '04' + '0001' + // Ethernet/IPv4, request
      '020000000001' + 'c6120a01' + // sender: our MAC, the VIP
      'ffffffffffff' + 'c6120a01', // target: as keepalived fills it, the VIP
    'hex',
  );
  assert.deepEqual(frame, expected);
});

test('an unsolicited NA goes from the VIP to all-nodes with hop limit 255, Override set, Solicited clear, and the target MAC option', () => {
  const frame = buildUnsolicitedNa('fd00:198:18::100', MAC, { router: false });
  assert.equal(frame.length, 86);
  assert.equal(frame.subarray(0, 6).toString('hex'), '333300000001');
  assert.equal(frame.subarray(6, 12).toString('hex'), '020000000001');
  assert.equal(frame.readUInt16BE(12), 0x86dd);
  const ip = frame.subarray(14);
  assert.equal(ip[0], 0x60);
  assert.equal(ip.readUInt16BE(4), 32);
  assert.equal(ip[6], 58);
  assert.equal(ip[7], 255);
  assert.equal(ip.subarray(8, 24).toString('hex'), 'fd000198001800000000000000000100');
  assert.equal(ip.subarray(24, 40).toString('hex'), 'ff020000000000000000000000000001');
  const na = ip.subarray(40);
  assert.equal(na[0], 136);
  assert.equal(na[1], 0);
  assert.equal(na[4], 0x20);
  assert.equal(na.subarray(8, 24).toString('hex'), 'fd000198001800000000000000000100');
  assert.deepEqual([...na.subarray(24, 32)], [2, 1, 2, 0, 0, 0, 0, 1]);
  // Computed independently of the code under test (a one-off script over the same bytes).
  assert.equal(na.readUInt16BE(2), 0x553d);
});

test('the NA Router flag is set when asked (keepalived: when the interface forwards IPv6)', () => {
  const na = buildUnsolicitedNa('fd00:198:18::100', MAC, { router: true }).subarray(54);
  assert.equal(na[4], 0xa0);
  assert.equal(na.readUInt16BE(2), 0xd53c);
});

test('frames refuse an address of the wrong family and an interface without a MAC', () => {
  assert.throws(() => buildGratuitousArp('fd00:198:18::1', MAC), KqError);
  assert.throws(() => buildUnsolicitedNa('198.18.10.1', MAC, { router: false }), KqError);
  assert.throws(() => buildGratuitousArp('198.18.10.1', Buffer.alloc(0)), /no Ethernet address/);
});

test("garpSchedule with keepalived's defaults: 5 at once, 5 more after 5 s, no refresh", () => {
  assert.deepEqual(KEEPALIVED_GARP_DEFAULTS, { masterDelayS: 5, masterRepeat: 5, masterRefreshS: 0, masterRefreshRepeat: 1, intervalS: 0 });
  const schedule = garpSchedule();
  assert.deepEqual(
    schedule.onMaster.map((s) => s.atMs),
    [0, 0, 0, 0, 0, 5000, 5000, 5000, 5000, 5000],
  );
  assert.deepEqual(
    schedule.onMaster.map((s) => s.round),
    [0, 1, 2, 3, 4, 0, 1, 2, 3, 4],
  );
  assert.equal(schedule.refresh, undefined);
});

test('garpSchedule spaces every message on the interface by vrrp_garp_interval, round by round over the addresses', () => {
  const schedule = garpSchedule({ masterRepeat: 2, masterDelayS: 1, intervalS: 0.1, addressCount: 2 });
  assert.deepEqual(
    schedule.onMaster.map((s) => [s.atMs, s.round, s.addressIndex]),
    [
      [0, 0, 0],
      [100, 0, 1],
      [200, 1, 0],
      [300, 1, 1],
      [1000, 0, 0],
      [1100, 0, 1],
      [1200, 1, 0],
      [1300, 1, 1],
    ],
  );
});

test('garpSchedule pushes the delayed set back when the first is still being sent', () => {
  const schedule = garpSchedule({ masterRepeat: 3, masterDelayS: 2, intervalS: 1 });
  assert.deepEqual(
    schedule.onMaster.map((s) => s.atMs),
    [0, 1000, 2000, 3000, 4000, 5000],
  );
});

test('garpSchedule: delay 0 sends one set only; refresh repeats refresh_repeat messages every refresh seconds', () => {
  const schedule = garpSchedule({ masterDelayS: 0, masterRepeat: 1, masterRefreshS: 60, masterRefreshRepeat: 2, intervalS: 0.01 });
  assert.deepEqual(
    schedule.onMaster.map((s) => s.atMs),
    [0],
  );
  assert.equal(schedule.refresh?.everyMs, 60_000);
  assert.deepEqual(
    schedule.refresh?.sends.map((s) => s.atMs),
    [0, 10],
  );
});

test('garpSchedule refuses negative or fractional counts', () => {
  assert.throws(() => garpSchedule({ masterRepeat: -1 }), (e: unknown) => e instanceof KqError && e.code === 'KQ_ERR_CONFIG_VALUE');
  assert.throws(() => garpSchedule({ masterRepeat: 1.5 }), KqError);
  assert.throws(() => garpSchedule({ intervalS: Number.NaN }), KqError);
});

describe('gratuitous ARP and unsolicited NA on the wire', { skip }, () => {
  let lab: Lab;
  let sender: LabHost;
  let senderMac: string;

  before(async () => {
    lab = await Lab.create();
    sender = await lab.addHost({ name: 'a', ipv4: '198.18.1.1', ipv6: 'fd00:198:18::11' });
    senderMac = await sender.macAddress();
  });

  after(async () => {
    await lab?.destroy();
  });

  async function announce(address: string): Promise<void> {
    const { code, lines } = await runFixture(sender, 'announce', ['--interface', 'eth0', '--address', address]);
    assert.equal(code, 0);
    assert.deepEqual(
      lines.map((l) => l.event),
      ['announced'],
      JSON.stringify(lines),
    );
  }

  it('teaches a client that accepts gratuitous ARP (arp_accept=1) the VIP at the sender MAC', async () => {
    const client = await lab.addHost({ name: 'cl', ipv4: '198.18.0.50', arpAccept: true });
    assert.equal(await client.neighbour('198.18.10.1'), undefined);
    await announce('198.18.10.1');
    assert.equal((await client.neighbour('198.18.10.1'))?.lladdr, senderMac);
  });

  it('moves an existing ARP entry to the sender MAC, which is what a failover needs', async () => {
    const client = await lab.addHost({ name: 'cl2', ipv4: '198.18.0.51' });
    await client.ip(['neigh', 'replace', '198.18.10.2', 'lladdr', '02:00:00:00:00:99', 'dev', 'eth0', 'nud', 'stale']);
    await announce('198.18.10.2');
    assert.equal((await client.neighbour('198.18.10.2'))?.lladdr, senderMac);
  });

  it('overrides an existing IPv6 neighbour entry with the sender MAC', async () => {
    const client = await lab.addHost({ name: 'cl3', ipv4: '198.18.0.52', ipv6: 'fd00:198:18::52' });
    await client.ip(['neigh', 'replace', 'fd00:198:18::100', 'lladdr', '02:00:00:00:00:99', 'dev', 'eth0', 'nud', 'stale']);
    await announce('fd00:198:18::100');
    assert.equal((await client.neighbour('fd00:198:18::100'))?.lladdr, senderMac);
  });

  it('creates the IPv6 entry on a client that accepts untracked NA (forwarding=1, accept_untracked_na=1)', async () => {
    const client = await lab.addHost({ name: 'cl4', ipv4: '198.18.0.53', ipv6: 'fd00:198:18::53' });
    // Linux creates a neighbour entry from an unsolicited NA only on a router that opted in (RFC 9131).
    await client.exec('sysctl', ['-q', '-w', 'net.ipv6.conf.eth0.forwarding=1']);
    await client.exec('sysctl', ['-q', '-w', 'net.ipv6.conf.eth0.accept_untracked_na=1']);
    await announce('fd00:198:18::101');
    assert.equal((await client.neighbour('fd00:198:18::101'))?.lladdr, senderMac);
  });
});
