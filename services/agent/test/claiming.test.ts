/**
 * The instance runner with a lease: VRRP's "become MASTER" is held back as
 * CLAIMING until the grant, and the VIP work keeps its order (VIP removed,
 * priority 0, then the release). The arbiter's side is a recording port the
 * test answers by hand: this proves the runner's wiring, not the protocol
 * (that needs the real arbiter, in the lab).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { InstanceRunner, type InstancePorts, type LeasePort, type Transition } from '../src/instance-runner.js';
import type { InstanceParams } from '../../../libs/vrrp/src/mod.js';
import { defaultLeaseTiming } from '../../../libs/arbiter/src/timing.js';
import type { ArbiterMode } from '../../../libs/arbiter/src/types.js';
import type { HolderEvent } from '../../../libs/arbiter/src/holder.js';

const params: InstanceParams = { vrid: 51, version: 3, priority: 100, advertIntervalCs: 100, preempt: true, preemptDelayMs: 0, primaryAddress: '198.18.1.1' };
// Advert 1 s, priority 100: Master_Down_Interval 3609.4 ms. Lease: R 1000, Q 250, M 500, T 2000.
const MDI = 3610;

function world(mode: ArbiterMode = 'strict') {
  const log: string[] = [];
  const transitions: Transition[] = [];
  let clock = 0;
  const ports: InstancePorts = {
    now: () => clock,
    sendAdvert: (p) => log.push(`advert ${p}`),
    addVips: () => (log.push('add'), true),
    removeVips: async () => {
      await new Promise((r) => setTimeout(r, 10));
      log.push('remove');
      return true;
    },
    startAnnouncing: () => log.push('announce'),
    stopAnnouncing: () => {},
    onTransition: (t) => transitions.push(t),
  };
  const lease: LeasePort = {
    params: { mode, timing: defaultLeaseTiming(1000), gatewayConfigured: true },
    send: (a) => log.push(a.type === 'sendClaim' ? `claim #${a.requestId}` : `${a.type === 'sendRenew' ? 'renew' : 'release'} #${a.requestId} epoch ${a.epoch}`),
    publish: (e) => log.push(e.name),
  };
  const runner = new InstanceRunner('VI_1', params, ports, pino({ level: 'silent' }), undefined, lease);
  const arrows = () => transitions.map((t) => `${t.from}->${t.to}`);
  return { log, transitions, arrows, runner, at: (t: number) => (clock = t) };
}

const grant = (requestId: number, epoch = 7): HolderEvent => ({ type: 'reply', requestId, reply: { type: 'grant', v: 1, instance: 'VI_1', epoch, validForMs: 2000, reason: 'lease free' } });

/** Started, gateway up, the down timer run out: CLAIMING with claim #1 out. */
async function claiming(mode: ArbiterMode = 'strict') {
  const w = world(mode);
  await w.runner.leaseEvent({ type: 'gateway', status: 'up' });
  await w.runner.handle({ type: 'start' });
  w.at(MDI);
  await w.runner.handle({ type: 'timer' });
  return w;
}

test('VRRP becoming MASTER is held as CLAIMING: no advert, no VIP until the grant', async () => {
  const w = await claiming();
  assert.equal(w.runner.agentState, 'CLAIMING');
  assert.equal(w.runner.state.name, 'BACKUP');
  assert.deepEqual(w.log, ['claim #1']);
  assert.deepEqual(w.arrows(), ['INIT->BACKUP', 'BACKUP->CLAIMING']);
  w.at(MDI + 5);
  await w.runner.leaseEvent(grant(1));
  assert.equal(w.runner.agentState, 'MASTER');
  assert.deepEqual(w.log, ['claim #1', 'advert 100', 'add', 'announce']);
  assert.deepEqual(w.arrows().slice(-1), ['CLAIMING->MASTER']);
  assert.match(w.transitions.at(-1)!.reason, /^lease granted \(epoch 7, valid 1495 ms more\): lease free; no advertisement from any master within Master_Down_Interval/);
  await w.runner.shutdown();
});

test('a veto puts the instance back in BACKUP, its down timer waiting for retryAfterMs', async () => {
  const w = await claiming();
  await w.runner.leaseEvent({ type: 'reply', requestId: 1, reply: { type: 'veto', v: 1, instance: 'VI_1', reason: 'web2 holds it and renews', retryAfterMs: 1000 } });
  assert.equal(w.runner.agentState, 'BACKUP');
  assert.equal(w.runner.state.masterDownAt, MDI + 1000);
  assert.deepEqual(w.log, ['claim #1']);
  assert.match(w.transitions.at(-1)!.reason, /^claim vetoed: web2 holds it and renews; staying BACKUP, claiming again in 1000 ms/);
  await w.runner.shutdown();
});

const vetoOf = (requestId: number): HolderEvent => ({ type: 'reply', requestId, reply: { type: 'veto', v: 1, instance: 'VI_1', reason: 'web2 holds it and renews', retryAfterMs: 1000 } });

test('a vetoed node stays BACKUP: its retries are quiet (no transition) and back off, a grant then makes it MASTER from BACKUP', async () => {
  const w = await claiming();
  await w.runner.leaseEvent(vetoOf(1));
  const afterFirst = w.arrows().length;
  // The backoff runs out with no advert heard (a cut VRRP link): the retry goes out quietly.
  w.at(MDI + 1000);
  await w.runner.handle({ type: 'timer' });
  assert.deepEqual(w.log, ['claim #1', 'claim #2']);
  assert.equal(w.runner.agentState, 'BACKUP');
  await w.runner.leaseEvent(vetoOf(2));
  // Doubled: 2000 ms from the second veto.
  assert.equal(w.runner.state.masterDownAt, MDI + 3000);
  w.at(MDI + 3000);
  await w.runner.handle({ type: 'timer' });
  assert.deepEqual(w.log, ['claim #1', 'claim #2', 'claim #3']);
  assert.equal(w.arrows().length, afterFirst, 'no transition for the retries');
  w.at(MDI + 3010);
  await w.runner.leaseEvent(grant(3));
  assert.equal(w.runner.agentState, 'MASTER');
  assert.deepEqual(w.arrows().slice(afterFirst - 2), ['BACKUP->CLAIMING', 'CLAIMING->BACKUP', 'BACKUP->MASTER']);
  await w.runner.shutdown();
});

const advert = (priority: number): Parameters<InstanceRunner['advertReceived']>[0] => ({ version: 3, family: 4, vrid: 51, priority, advertIntervalCs: 100, addresses: [], authType: 0, authPassword: '' });
const offerOf = (epoch: number): HolderEvent => ({ type: 'offer', epoch, reason: 'handing over', eligible: true });

test('granted while another node still advertises as master: no VIP until its priority-0 advert', async () => {
  const w = world();
  await w.runner.leaseEvent({ type: 'gateway', status: 'up' });
  await w.runner.handle({ type: 'start' });
  w.at(100);
  // web2 is master (a failsafe master that kept the VIP while no arbiter answered), lower priority.
  w.runner.advertReceived(advert(90), '198.18.1.2');
  await w.runner.leaseEvent(offerOf(8));
  assert.deepEqual(w.log, ['claim #1']);
  w.at(110);
  await w.runner.leaseEvent(grant(1, 8));
  assert.equal(w.runner.agentState, 'CLAIMING');
  assert.equal(w.runner.state.name, 'BACKUP');
  assert.deepEqual(w.log, ['claim #1'], 'no advert, no VIP while web2 advertises');
  w.at(150);
  w.runner.advertReceived(advert(90), '198.18.1.2');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(w.log, ['claim #1']);
  w.at(160);
  w.runner.advertReceived(advert(0), '198.18.1.2');
  await new Promise((r) => setImmediate(r));
  assert.equal(w.runner.agentState, 'MASTER');
  assert.deepEqual(w.log, ['claim #1', 'advert 100', 'add', 'announce']);
  assert.match(w.transitions.at(-1)!.reason, /^lease granted \(epoch 8.*the other master gave the VIP up/);
  await w.runner.shutdown();
});

test('granted while another node still advertises as master: MASTER once it has been silent for Master_Down_Interval', async () => {
  const w = world();
  await w.runner.leaseEvent({ type: 'gateway', status: 'up' });
  await w.runner.handle({ type: 'start' });
  w.runner.advertReceived(advert(90), '198.18.1.2');
  await w.runner.leaseEvent(offerOf(8));
  // Valid long enough that the test clock's jump below leaves the lease held.
  await w.runner.leaseEvent({ type: 'reply', requestId: 1, reply: { type: 'grant', v: 1, instance: 'VI_1', epoch: 8, validForMs: 20_000, reason: 'lease free' } });
  assert.equal(w.runner.agentState, 'CLAIMING');
  // The runner's own timer re-checks at the last advert + Master_Down_Interval (real time: the test's clock jumps first).
  w.at(MDI + 1);
  await new Promise((r) => setTimeout(r, MDI + 50));
  assert.equal(w.runner.agentState, 'MASTER');
  assert.deepEqual(w.log.filter((l) => !l.startsWith('renew')), ['claim #1', 'advert 100', 'add', 'announce']);
  await w.runner.shutdown();
});

test('a live master heard while claiming withdraws the claim; its late grant is released', async () => {
  const w = await claiming();
  w.runner.advertReceived({ version: 3, family: 4, vrid: 51, priority: 200, advertIntervalCs: 100, addresses: [], authType: 0, authPassword: '' }, '198.18.1.2');
  await w.runner.leaseEvent(grant(1));
  assert.equal(w.runner.agentState, 'BACKUP');
  assert.deepEqual(w.log, ['claim #1', 'release #2 epoch 7']);
  assert.deepEqual(w.arrows().slice(-1), ['CLAIMING->BACKUP']);
  await w.runner.shutdown();
});

test('an order to demote removes the VIP, then sends priority 0, then releases', async () => {
  const w = await claiming();
  await w.runner.leaseEvent(grant(1));
  await w.runner.leaseEvent({ type: 'orderDemote', epoch: 7, reason: 'failover to web2' });
  assert.equal(w.runner.agentState, 'BACKUP');
  assert.deepEqual(w.log.slice(4), ['remove', 'advert 0', 'lease.self_demoted', 'release #2 epoch 7']);
  assert.match(w.transitions.at(-1)!.reason, /ordered by the arbiter \(epoch 7\): failover to web2/);
  await w.runner.shutdown();
});

test('strict: renewals unanswered until the deadline: the holder demotes itself, VIP first', async () => {
  const w = await claiming();
  await w.runner.leaseEvent(grant(1)); // sent at MDI: demote at MDI + 1500, renew at MDI + 1000
  for (const t of [1000, 1250, 1500]) {
    w.at(MDI + t);
    await w.runner.leaseEvent({ type: 'tick' });
  }
  assert.equal(w.runner.agentState, 'BACKUP');
  assert.deepEqual(w.log.slice(4), ['renew #2 epoch 7', 'lease.renewal_failed', 'renew #3 epoch 7', 'remove', 'advert 0', 'lease.self_demoted', 'release #4 epoch 7']);
  await w.runner.shutdown();
});

test('a graceful stop releases the lease after the VIP is gone and priority 0 is sent', async () => {
  const w = await claiming();
  await w.runner.leaseEvent(grant(1));
  await w.runner.shutdown();
  assert.deepEqual(w.log.slice(4), ['remove', 'advert 0', 'release #2 epoch 7']);
  assert.deepEqual(w.arrows().slice(-1), ['MASTER->INIT']);
});

test('an offer to a backup claims; the grant makes it MASTER at once', async () => {
  const w = world();
  await w.runner.leaseEvent({ type: 'gateway', status: 'up' });
  await w.runner.handle({ type: 'start' });
  w.at(100);
  await w.runner.leaseEvent({ type: 'offer', epoch: 8, reason: 'web1 handed over', eligible: true });
  assert.equal(w.runner.agentState, 'CLAIMING');
  await w.runner.leaseEvent(grant(1, 8));
  assert.equal(w.runner.agentState, 'MASTER');
  assert.deepEqual(w.log, ['claim #1', 'advert 100', 'add', 'announce']);
  assert.deepEqual(w.arrows(), ['INIT->BACKUP', 'BACKUP->CLAIMING', 'CLAIMING->MASTER']);
  await w.runner.shutdown();
});

test('failsafe with NATS down: a silent master is taken over without a lease, plain VRRP timing', async () => {
  const w = world('failsafe');
  await w.runner.leaseEvent({ type: 'gateway', status: 'up' });
  await w.runner.leaseEvent({ type: 'arbiterReachable', reachable: false, detail: 'NATS disconnected' });
  await w.runner.handle({ type: 'start' });
  w.at(MDI);
  await w.runner.handle({ type: 'timer' });
  assert.equal(w.runner.agentState, 'MASTER');
  assert.deepEqual(w.log, ['advert 100', 'add', 'announce']);
  assert.match(w.transitions.at(-1)!.reason, /taking over without a lease/);
  await w.runner.shutdown();
});

test('mode off: no lease port, VRRP exactly as before', async () => {
  const w = world();
  const plain = new InstanceRunner('VI_1', params, { ...(w.runner as unknown as { ports: InstancePorts }).ports }, pino({ level: 'silent' }));
  await plain.handle({ type: 'start' });
  w.at(MDI);
  await plain.handle({ type: 'timer' });
  assert.equal(plain.agentState, 'MASTER');
  assert.equal(plain.holderState, null);
  assert.deepEqual(w.log, ['advert 100', 'add', 'announce']);
  await plain.shutdown();
});

test('an offer during a quiet retry makes it a claim of its own: CLAIMING is reported', async () => {
  const w = await claiming();
  await w.runner.leaseEvent(vetoOf(1));
  w.at(MDI + 1000);
  await w.runner.handle({ type: 'timer' });
  assert.equal(w.runner.agentState, 'BACKUP');
  await w.runner.leaseEvent(offerOf(8));
  assert.equal(w.runner.agentState, 'CLAIMING');
  assert.deepEqual(w.arrows().slice(-1), ['BACKUP->CLAIMING']);
  await w.runner.shutdown();
});

test('after a confirmed fence (the grant says so), a master already silent for two advert intervals is the fenced host: MASTER at once', async () => {
  const w = world();
  await w.runner.leaseEvent({ type: 'gateway', status: 'up' });
  await w.runner.handle({ type: 'start' });
  w.runner.advertReceived(advert(90), '198.18.1.2');
  await w.runner.leaseEvent(offerOf(8));
  // 1 s adverts: 2 s of silence is two intervals, well within Master_Down_Interval (3.6 s).
  w.at(2000);
  await w.runner.leaseEvent({ type: 'reply', requestId: 1, reply: { type: 'grant', v: 1, instance: 'VI_1', epoch: 8, validForMs: 20_000, reason: 'web2 (epoch 7) was fenced and the fence confirmed 0 ms ago' } });
  assert.equal(w.runner.agentState, 'MASTER');
  await w.runner.shutdown();
});

test('after a confirmed fence, a master heard within its advert interval still holds the grant back', async () => {
  const w = world();
  await w.runner.leaseEvent({ type: 'gateway', status: 'up' });
  await w.runner.handle({ type: 'start' });
  w.at(1500);
  w.runner.advertReceived(advert(90), '198.18.1.2');
  await w.runner.leaseEvent(offerOf(8));
  w.at(2000);
  await w.runner.leaseEvent({ type: 'reply', requestId: 1, reply: { type: 'grant', v: 1, instance: 'VI_1', epoch: 8, validForMs: 20_000, reason: 'web2 (epoch 7) was fenced and the fence confirmed 0 ms ago' } });
  assert.equal(w.runner.agentState, 'CLAIMING');
  await w.runner.shutdown();
});
