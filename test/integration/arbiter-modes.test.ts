/**
 * The arbiter's lab scenarios, part 3: fence fails (the switch answers 500,
 * is down, is too slow) with fencing required, a grant that arrives while
 * another node still advertises as master (the agent holds its VIP back), and
 * NATS lost (every server stopped, then started again) in each mode: strict,
 * failsafe, off. Same lab
 * as parts 1 and 2 (arbiter-scenarios.test.ts, arbiter-failures.test.ts).
 *
 * Each scenario asserts who holds the VIP and split-brain ms = 0 from the
 * samplers, and prints its figures, never asserting them.
 */
import { describe, test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Lab, labUnavailableReason } from '../lab/lab.js';
import { NATS_SERVER } from '../lab/nats.js';
import { startClient, summarizeClient } from '../lab/client.js';
import { startSplitBrainWatch } from '../lab/split-brain.js';
import { arbiterApi, startArbiter } from '../lab/arbiter.js';
import { API_TOKEN, eventHistory, INSTANCE, settleWithA1, startArbiterPair, type ArbiterPair } from '../lab/arbiter-pair.js';
import { sleep, waitUntil } from '../lab/wait.js';

const skip = labUnavailableReason() ?? (existsSync(NATS_SERVER) ? undefined : `${NATS_SERVER} is not installed`);

type Mode = 'strict' | 'failsafe' | 'off';

describe('arbiter scenarios: fencing that fails, and NATS lost in each mode', { skip }, () => {
  let lab: Lab;
  let p: ArbiterPair;

  /**
   * Both replicas and both agents again, in `mode`. The agents stop first,
   * while the replicas still answer, so that the holder's release lands: with
   * every replica stopped, a holder cannot renew, demotes itself, and its
   * release finds nobody; the lease it leaves in the KV runs out and, with
   * fencing required, the new replicas fence it (they cannot know its VIP is
   * gone) after its host was powered on here: its agent then starts in FAULT.
   */
  const restartIn = async (mode: Mode) => {
    await p.agents.b1.stop();
    await p.agents.a1.stop();
    for (const a of p.arbiters) await a.stop();
    // Either host may come from a power-off (a fence).
    for (const [node, host] of [['a1', p.a], ['b1', p.b]] as const) {
      await host.powerOn();
      p.fence.poweredOn(node);
    }
    p.arbiterConfig.instances = p.arbiterConfig.instances.map((i) => ({ ...i, mode }));
    p.arbiters = await Promise.all(p.arbiters.map((a) => startArbiter(a.host, a.replica, p.arbiterConfig, { name: `${a.replica}-${mode}` })));
    await p.startAgent('a1', { mode });
    await p.agents.a1.waitForState(INSTANCE, 'MASTER', 15_000);
    await p.startAgent('b1', { mode });
    await settleWithA1(p);
  };

  before(async () => {
    lab = await Lab.create();
    // A short webhook timeout, so that "too slow" fails fast; retries with a short backoff.
    p = await startArbiterPair(lab, { mode: 'strict', fencing: 'required', webhook: { timeoutMs: 500, retries: 1, backoffMs: 100, maxBackoffMs: 200, totalTimeoutMs: 3000 } });
    await p.startAgent('a1');
    await p.agents.a1.waitForState(INSTANCE, 'MASTER', 15_000);
    await p.startAgent('b1');
    await settleWithA1(p);
  });

  after(async () => {
    await lab?.destroy();
  });

  test('fence fails (500, switch down, too slow): no grant while fencing is required; retried, each fence attempt an event; granted once a fence is confirmed', async (t) => {
    const watch = await startSplitBrainWatch([p.a, p.b], p.pair.vip.ipv4);
    await p.fence.setMode('500');
    const hungAt = process.hrtime.bigint();
    p.agents.a1.process.signal('SIGSTOP');
    await p.fence.waitAttempts('a1', 2, 15_000);
    await p.fence.setMode('down');
    await waitUntil('a fence attempt against the switch that is down', () => p.arbiters.some((a) => a.records.some((r) => r['msg'] === 'fence attempt' && typeof r['error'] === 'string' && /ECONNREFUSED/.test(String(r['error'])))), 15_000);
    await p.fence.setMode('slow', 1500);
    const slowFrom = p.fence.attempts.length;
    await waitUntil('a slow answer', () => p.fence.attempts.slice(slowFrom).some((a) => a.answer === 'slow'), 15_000);
    // Throughout: b1 was not granted, a1's VIP is the only one.
    assert.notEqual(p.agents.b1.state(INSTANCE), 'MASTER');
    assert.equal(p.fence.operations.filter((o) => o.node === 'a1').length, 0, 'nothing powered off yet');
    await p.fence.setMode('ok');
    const fenced = await p.fence.waitFenced('a1', 15_000);
    const takeover = await p.agents.b1.waitForState(INSTANCE, 'MASTER', 10_000);
    const sb = await watch.stop();
    assert.equal(sb.splitBrainMs, 0);
    assert.ok(takeover!.at * 1e6 >= Number(fenced.doneNs!), 'b1 MASTER only after a1 was powered off');
    assert.match(takeover!.reason, /was fenced and the fence confirmed/);
    assert.deepEqual(await p.holders(), ['b1']);

    let events: Awaited<ReturnType<typeof eventHistory>>['events'] = [];
    await waitUntil('the confirmed fence in the event log', async () => {
      events = (await eventHistory(p, ['--type', 'fence.>'])).events;
      return events.some((e) => e.type === 'fence.result' && e.data['confirmed'] === true);
    }, 15_000, 250);
    const results = events.filter((e) => e.type === 'fence.result');
    const failed = results.filter((e) => e.data['ok'] === false);
    const attempts = new Set(events.filter((e) => e.type === 'fence.requested').map((e) => e.data['attempt'] ?? (e.data['facts'] as Record<string, unknown> | undefined)?.['attempt']));
    t.diagnostic(
      `fence fails: ${p.fence.attempts.filter((a) => a.node === 'a1').length} requests reached the switch (${p.fence.attempts.map((a) => a.answer).join(', ')}); ` +
        `${results.length} fence.result events (${failed.length} failed), fence.requested attempts ${[...attempts].join(', ')}; a1 powered off ${((Number(fenced.doneNs!) - Number(hungAt)) / 1e6).toFixed(0)} ms after SIGSTOP, split-brain ${sb.splitBrainMs} ms`,
    );
    // One fence (attempt 1) got the 500s and failed; the arbiter fenced again (attempt 2): each a fence.requested and a fence.result.
    assert.ok(failed.length >= 1, 'a failed fence is an event');
    assert.ok(failed.every((e) => /500|ECONNREFUSED|timed out|timeout/i.test(String(e.data['reason']))), 'each failure is named');
    assert.ok(attempts.has(1) && attempts.has(2), 'the fence was retried');
  });

  /**
   * The agent's own guard against two holders (docs/agent.md): a grant that
   * arrives while another node still advertises as master does not add the
   * VIP. Made certain here by running a1 in mode off (plain VRRP: it holds the
   * VIP with no lease and the arbiter does not know it), so the arbiter grants
   * b1 on a forced failover while a1 advertises: the situation of a failsafe
   * master kept by VRRP while no arbiter answered, when NATS returns.
   */
  test('granted while another node still advertises as master (a1 in mode off): b1 holds the lease without the VIP until a1 is silent for Master_Down_Interval (its host powered off); split-brain 0', async (t) => {
    await p.agents.b1.stop();
    await p.agents.a1.stop();
    for (const [node, host] of [['a1', p.a], ['b1', p.b]] as const) {
      await host.powerOn();
      p.fence.poweredOn(node);
    }
    await p.startAgent('a1', { mode: 'off' });
    await p.agents.a1.waitForState(INSTANCE, 'MASTER', 15_000);
    await p.startAgent('b1', { mode: 'strict' });
    await waitUntil('b1 BACKUP hearing a1', async () => p.agents.b1.state(INSTANCE) === 'BACKUP' && (await p.agents.b1.status()).instances[0]?.master === p.a.ipv4, 10_000, 50);
    const watch = await startSplitBrainWatch([p.a, p.b], p.pair.vip.ipv4);
    const r = await arbiterApi(p.cl, p.arbiters[0]!.apiUrl!, 'POST', '/v1/failover', { token: API_TOKEN, body: { instance: INSTANCE, to: 'b1' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await waitUntil('b1 granted, its VIP held back', () => p.agents.b1.process.lines.some((l) => l.includes('still advertises as master')), 10_000);
    // A while of a1 advertising (a renewal, or the lease lost when the loaded machine makes one late):
    // b1 adds no VIP meanwhile.
    const linesBefore = p.agents.b1.process.lines.length;
    await waitUntil('a renewal of b1 (or its lease given up) while held back', () => p.agents.b1.process.lines.slice(linesBefore).some((l) => /"lease renewed|could not be renewed/.test(l)), 10_000);
    assert.notEqual(p.agents.b1.state(INSTANCE), 'MASTER');
    assert.deepEqual(await p.holders(), ['a1']);
    const heldAtStop = p.agents.b1.state(INSTANCE) === 'CLAIMING';
    // a1's host powers off (no priority-0 advert): b1 takes over once a1 has been silent for
    // Master_Down_Interval. (A graceful stop hands over within a millisecond of a1's VIP removal,
    // finer than the samplers' 5 ms, which would then count a phantom overlap; the priority-0 path
    // is the unit tests'.)
    const offAt = process.hrtime.bigint();
    await p.a.powerOff();
    const takeover = await p.agents.b1.waitForState(INSTANCE, 'MASTER', 5000);
    const sb = await watch.stop();
    t.diagnostic(
      `held grant: b1 ${heldAtStop ? 'still held its grant' : 'had given its lease up'} when a1 powered off; b1 MASTER ${(takeover!.at - Number(offAt) / 1e6).toFixed(1)} ms after the power-off (${takeover!.reason.slice(-120)}); split-brain ${sb.splitBrainMs} ms`,
    );
    assert.equal(sb.splitBrainMs, 0);
    if (heldAtStop) assert.match(takeover!.reason, /the other master gave the VIP up \(priority-0 advert or silence\)/);
    assert.deepEqual(await p.holders(), ['b1']);
    // a1 back (its VIP gone, as after a reboot), in strict, as a backup: the next scenario starts from here (restartIn).
    await p.a.ip(['addr', 'del', p.pair.vip.ipv4Cidr, 'dev', p.a.ifname], { allowFail: true });
    await p.a.powerOn();
    await p.startAgent('a1', { mode: 'strict' });
  });

  /**
   * `todo` runs the scenario and reports it without failing the suite: a known
   * bug, written down where the test is (and in issue 5's note).
   */
  const natsLost = (mode: Mode, expectation: string, todo?: string) =>
    test(`nats lost in mode ${mode}: ${expectation}; after NATS returns one holder and no event lost`, { ...(todo ? { todo } : {}) }, async (t: TestContext) => {
      await restartIn(mode);
      const watch = await startSplitBrainWatch([p.a, p.b], p.pair.vip.ipv4);
      // A bound, not a timing: NATS coming back (startAll, waitHealthy) may take most of a minute on a loaded machine.
      const client = startClient(p.cl, p.pair.vip.ipv4, { durationMs: 150_000 });
      await client.waitFor((r) => r.ok && r.server === 'a1', 5000);
      const lostAt = process.hrtime.bigint();
      const a1Before = p.agents.a1.transitions.length;
      await p.nats.stopAll();
      if (mode === 'strict') {
        const gaveUp = await p.agents.a1.waitForState(INSTANCE, 'BACKUP', 5000);
        assert.match(gaveUp!.reason, /could not be renewed before its deadline|lease/);
        await waitUntil('nobody holding the VIP', async () => (await p.holders()).length === 0, 5000);
      }
      // Long enough for a backup that would take over to do so (Master_Down_Interval is 0.36 s), bounded.
      await sleep(2000);
      const during = await p.holders();
      const b1During = p.agents.b1.state(INSTANCE);
      await p.nats.startAll();
      await p.nats.waitHealthy(30_000);
      const backAt = process.hrtime.bigint();
      const linesAtReturn = { a1: p.agents.a1.process.lines.length, b1: p.agents.b1.process.lines.length };
      await waitUntil('one holder again', async () => (await p.holders()).length === 1, 20_000, 50);
      if (mode !== 'off') {
        // The arbiters take the lease up again (write path back, heartbeats heard) some seconds after
        // NATS: split brain, if any, happens then, so the samplers run until a holder renews a lease.
        const renewed = (node: 'a1' | 'b1') => p.agents[node].process.lines.slice(linesAtReturn[node]).some((l) => l.includes('"lease renewed'));
        await waitUntil('a lease renewed after NATS returned', () => renewed('a1') || renewed('b1'), 60_000, 100);
        await sleep(1000);
      }
      const holder = (await p.holders())[0]!;
      await client.waitFor((r) => r.ok && r.t > backAt, 10_000);
      const records = await client.stop();
      const sb = await watch.stop();
      const summary = summarizeClient(records, { from: lostAt });
      // Every transition the agents logged is in the stream once NATS is back, and no node's seq has a gap.
      const logged = [...p.agents.a1.transitions.map((x) => ['a1', x] as const), ...p.agents.b1.transitions.map((x) => ['b1', x] as const)];
      let history: Awaited<ReturnType<typeof eventHistory>> = { code: null, events: [], stderr: '' };
      await waitUntil('every logged transition in the event log', async () => {
        history = await eventHistory(p, ['--type', 'vrrp.transition']);
        return logged.every(([node, x]) => history.events.some((e) => e.node === node && e.data['to'] === x.to && e.data['reason'] === x.reason));
      }, 30_000, 500);
      const full = await eventHistory(p);
      t.diagnostic(
        `nats lost (${mode}): during the outage VIP on [${during.join(', ')}], b1 ${b1During}; after NATS returned ${holder} holds; a1 made ${p.agents.a1.transitions.length - a1Before} transitions; ` +
          `client downtime ${summary.downtimeMs.toFixed(1)} ms, split-brain ${sb.splitBrainMs} ms; event log: ${full.stderr.trim().split('\n')[0]}`,
      );
      assert.equal(sb.splitBrainMs, 0);
      assert.doesNotMatch(full.stderr, /GAPS|seq resets/);
      assert.notEqual(b1During, 'MASTER', 'the backup never took over while the master was alive');
      if (mode === 'strict') assert.deepEqual(during, []);
      else assert.deepEqual(during, ['a1']);
      assert.equal(summary.servedBy.at(-1)?.server, holder);
    });

  natsLost('strict', 'the holder gives the VIP up at its lease deadline and nobody holds it until NATS returns');
  // Was a todo (a few ms of two holders when NATS returned, 2 of 4 CI runs): the agent now holds a grant
  // back while another node still advertises as master (the test above proves that guard on its own).
  natsLost('failsafe', 'the holder keeps the VIP (its gateway answers), the backup stays backup');
  natsLost('off', 'plain VRRP: nothing changes');
});
