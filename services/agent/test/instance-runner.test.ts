import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { InstanceRunner, type InstancePorts, type Transition } from '../src/instance-runner.js';
import type { InstanceParams } from '../../../libs/vrrp/src/mod.js';

const params: InstanceParams = {
  vrid: 51,
  version: 3,
  priority: 100,
  advertIntervalCs: 10,
  preempt: true,
  preemptDelayMs: 0,
  primaryAddress: '198.18.1.1',
};

/** An in-memory world that records what the runner did, in order, with a clock the test moves. */
function world() {
  const log: string[] = [];
  const transitions: Transition[] = [];
  let clock = 0;
  const ports: InstancePorts = {
    now: () => clock,
    sendAdvert: (p) => {
      log.push(`advert ${p}`);
    },
    addVips: async () => {
      await new Promise((r) => setTimeout(r, 5));
      log.push('add');
      return true;
    },
    removeVips: async () => {
      // Slower than the advert: proves the runner waits for removal before priority 0.
      await new Promise((r) => setTimeout(r, 20));
      log.push('remove');
      return true;
    },
    startAnnouncing: () => log.push('announce'),
    stopAnnouncing: () => log.push('stop-announce'),
    onTransition: (t) => transitions.push(t),
  };
  return { log, transitions, ports, setClock: (t: number) => (clock = t) };
}

test('the runner releases the VIP before it sends priority 0 on shutdown, even when removal is slow', async () => {
  const w = world();
  const r = new InstanceRunner('VI_1', { ...params, priority: 255 }, w.ports, pino({ level: 'silent' }));
  await r.handle({ type: 'start' });
  assert.deepEqual(w.log, ['advert 255', 'add', 'announce']);
  await r.shutdown();
  assert.deepEqual(w.log.slice(3), ['stop-announce', 'remove', 'advert 0']);
  assert.deepEqual(w.transitions.map((t) => `${t.from}->${t.to}`), ['INIT->MASTER', 'MASTER->INIT']);
  assert.equal(r.counters.priorityZeroSent, 1);
});

test('events queued while an action is in flight are handled after it, in order', async () => {
  const w = world();
  const r = new InstanceRunner('VI_1', { ...params, priority: 255 }, w.ports, pino({ level: 'silent' }));
  const started = r.handle({ type: 'start' });
  const advert = { version: 3 as const, family: 4 as const, vrid: 51, priority: 0, advertIntervalCs: 10, addresses: [], authType: 0, authPassword: '' };
  r.advertReceived(advert, '198.18.1.2');
  await started;
  assert.deepEqual(w.log, ['advert 255', 'add', 'announce', 'advert 255']);
  await r.shutdown();
});

test('a failing action is logged and does not stop the instance', async () => {
  const w = world();
  w.ports.addVips = async () => {
    throw new Error('netlink: EPERM');
  };
  const r = new InstanceRunner('VI_1', { ...params, priority: 255 }, w.ports, pino({ level: 'silent' }));
  await r.handle({ type: 'start' });
  assert.equal(r.state.name, 'MASTER');
  assert.deepEqual(w.log, ['advert 255', 'announce']);
  await r.shutdown();
});
