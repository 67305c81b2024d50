import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, labUnavailableReason, type LabHost, type LabProcess } from '../../../test/lab/lab.js';
import { FAILURE_TIMEOUT_MS, fixture, jsonLines, waitForEvent, type JsonLine } from '../fixtures/lab-helpers.js';

const skip = labUnavailableReason();

interface Side {
  name: string;
  host: LabHost;
  process: LabProcess;
  lines: JsonLine[];
}

/**
 * Both sides open their socket, then send at the same time (SIGUSR2), and
 * each exits by itself once it has everything it expects from the other.
 */
async function exchange(
  lab: Lab,
  family: 4 | 6,
  sides: Array<{ name: string; host: LabHost; peer: string; source?: string }>,
): Promise<Map<string, Side>> {
  const running = sides.map(({ name, host, peer, source }) => {
    const args = ['--name', name, '--family', String(family), '--interface', 'eth0', '--peer', peer, '--max-ms', String(FAILURE_TIMEOUT_MS)];
    if (source) args.push('--source', source);
    return { name, host, process: host.spawnNode(`peer${family}`, fixture('vrrp-peer'), args, { captureStdout: true }) };
  });
  for (const side of running) await waitForEvent(side.process, (l) => l.event === 'ready');
  for (const side of running) side.process.signal('SIGUSR2');
  const result = new Map<string, Side>();
  for (const side of running) {
    const { code } = await side.process.exited;
    assert.equal(code, 0, `${side.name}'s peer process (${lab.dir}) must exit 0 by itself`);
    result.set(side.name, { ...side, lines: jsonLines(side.process) });
  }
  return result;
}

function packetsFrom(side: Side, from: string): JsonLine[] {
  return side.lines.filter((l) => l.event === 'packet' && l['from'] === from);
}

function packet(side: Side, from: string, tag: string): JsonLine {
  const found = packetsFrom(side, from).find((l) => l['tag'] === tag);
  assert.ok(found, `${side.name} received no "${tag}" packet from ${from}: ${JSON.stringify(side.lines)}`);
  return found;
}

for (const family of [4, 6] as const) {
  const addresses =
    family === 4
      ? { a: '198.18.1.1', b: '198.18.1.2', group: '224.0.0.18' }
      : { a: 'fd00:198:18::11', b: 'fd00:198:18::12', group: 'ff02::12' };

  describe(`VRRP over IPv${family} between two namespaces`, { skip }, () => {
    let lab: Lab;
    let sides: Map<string, Side>;
    const linkLocal = new Map<string, string>();

    before(async () => {
      lab = await Lab.create();
      const a = await lab.addHost({ name: 'a', ipv4: '198.18.1.1', ipv6: 'fd00:198:18::11' });
      const b = await lab.addHost({ name: 'b', ipv4: '198.18.1.2', ipv6: 'fd00:198:18::12' });
      sides = await exchange(lab, family, [
        { name: 'a', host: a, peer: addresses.b },
        { name: 'b', host: b, peer: addresses.a },
      ]);
      for (const [name, side] of sides) {
        const ready = side.lines.find((l) => l.event === 'ready');
        linkLocal.set(name, String(ready?.['source']));
      }
    });

    after(async () => {
      await lab?.destroy();
    });

    it('delivers multicast adverts both ways with TTL 255, from the sender to the group', () => {
      for (const [receiver, sender] of [['b', 'a'], ['a', 'b']] as const) {
        const received = packet(sides.get(receiver)!, sender, 'multicast');
        assert.equal(received['ttl'], 255);
        assert.equal(received['family'], family);
        assert.equal(received['destination'], addresses.group);
        // By default IPv4 sends from the primary address, IPv6 from the link-local one.
        const expectedSource = family === 4 ? addresses[sender] : linkLocal.get(sender);
        assert.equal(received['source'], expectedSource);
        if (family === 6) assert.match(String(received['source']), /^fe80:/);
        assert.equal(typeof received['ifindex'], 'number');
        assert.ok((received['ifindex'] as number) > 0);
      }
    });

    it('delivers unicast adverts to a peer both ways with TTL 255', () => {
      for (const [receiver, sender] of [['b', 'a'], ['a', 'b']] as const) {
        const received = packet(sides.get(receiver)!, sender, 'unicast');
        assert.equal(received['ttl'], 255);
        assert.equal(received['destination'], addresses[receiver]);
      }
    });

    it('delivers a packet sent with TTL 64 with ttl 64 in its metadata instead of dropping it', () => {
      for (const [receiver, sender] of [['b', 'a'], ['a', 'b']] as const) {
        const received = packet(sides.get(receiver)!, sender, 'ttl64');
        assert.equal(received['ttl'], 64);
        assert.equal(received['destination'], addresses.group);
      }
    });

    it('does not deliver packets for a group it did not join, nor for all-nodes', () => {
      // The sender wrote these before "end" on the same socket and the link keeps
      // order, so having "end" proves they would have arrived by now.
      for (const [receiver, sender] of [['b', 'a'], ['a', 'b']] as const) {
        const side = sides.get(receiver)!;
        packet(side, sender, 'end');
        const tags = packetsFrom(side, sender).map((l) => l['tag']);
        assert.ok(!tags.includes('other-group'), `${receiver} got a packet for a group it did not join: ${tags.join(',')}`);
        assert.ok(!tags.includes('all-nodes'), `${receiver} got a packet sent to all-nodes: ${tags.join(',')}`);
      }
    });

    it('counts what it sent and received, with no errors', () => {
      for (const side of sides.values()) {
        const closed = side.lines.find((l) => l.event === 'closed');
        const counters = closed?.['counters'] as Record<string, number>;
        assert.equal(counters['packetsSent'], 5);
        assert.equal(counters['sendErrors'], 0);
        assert.equal(counters['receiveErrors'], 0);
        assert.equal(counters['packetsReceived'], 4);
        assert.equal(side.lines.filter((l) => l.event === 'error').length, 0, JSON.stringify(side.lines));
      }
    });

    if (family === 4) {
      it('writes the IPv4 header as keepalived does: TOS 0xc0, TTL 255, protocol 112, no fragment flags, a non-zero ID', () => {
        for (const [receiver, sender] of [['b', 'a'], ['a', 'b']] as const) {
          const header = sides.get(receiver)!.lines.find((l) => l.event === 'header' && l['from'] === sender && l['tag'] === 'multicast');
          assert.ok(header, `no header seen by ${receiver}`);
          assert.equal(header['tos'], 0xc0);
          assert.equal(header['ttl'], 255);
          assert.equal(header['protocol'], 112);
          assert.equal(header['fragment'], 0);
          assert.equal(header['headerLength'], 20);
          assert.notEqual(header['id'], 0);
        }
      });
    }
  });
}

describe('a configured source address', { skip }, () => {
  it('is the source of IPv4 and IPv6 adverts instead of the default', async () => {
    const lab = await Lab.create();
    try {
      const a = await lab.addHost({ name: 'a', ipv4: '198.18.1.1', ipv6: 'fd00:198:18::11' });
      const b = await lab.addHost({ name: 'b', ipv4: '198.18.1.2', ipv6: 'fd00:198:18::12' });
      await b.ip(['addr', 'add', '198.18.1.102/16', 'dev', 'eth0']);
      const four = await exchange(lab, 4, [
        { name: 'a', host: a, peer: '198.18.1.2' },
        { name: 'b', host: b, peer: '198.18.1.1', source: '198.18.1.102' },
      ]);
      assert.equal(packet(four.get('a')!, 'b', 'multicast')['source'], '198.18.1.102');
      assert.equal(packet(four.get('a')!, 'b', 'unicast')['source'], '198.18.1.102');
      const six = await exchange(lab, 6, [
        { name: 'a', host: a, peer: 'fd00:198:18::12' },
        { name: 'b', host: b, peer: 'fd00:198:18::11', source: 'fd00:198:18::12' },
      ]);
      assert.equal(packet(six.get('a')!, 'b', 'multicast')['source'], 'fd00:198:18::12');
      assert.equal(packet(six.get('a')!, 'b', 'unicast')['source'], 'fd00:198:18::12');
    } finally {
      await lab.destroy();
    }
  });
});
