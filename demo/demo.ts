/**
 * `npm run demo`: the main job on an embedded lab.
 *
 * Builds a datacenter segment in network namespaces (LAB.md), runs a pair of
 * keepquorum agents in front of nginx from an ordinary keepalived.conf — the
 * classic keepalived + nginx setup — with a client hitting the VIP every 10 ms,
 * powers the master off, and prints who served when, the client's downtime and
 * the split-brain time. Tears everything down, also on Ctrl-C or failure.
 */
import { Lab, labUnavailableReason } from '../test/lab/lab.js';
import { buildSegment } from '../test/lab/topology.js';
import { startNginx } from '../test/lab/nginx.js';
import { startClient, summarizeClient, type ClientRecord } from '../test/lab/client.js';
import { startSplitBrainWatch } from '../test/lab/split-brain.js';
import { keepalivedConf } from '../test/lab/keepalived.js';
import { startAgent, type AgentHandle } from '../test/lab/agent.js';
import { masterDownIntervalMs } from '../libs/vrrp/src/timers.js';
import { startNatsCluster } from '../test/lab/nats.js';
import { HA_AGENT } from '../test/lab/agent.js';
import { join } from 'node:path';

const HACTL = HA_AGENT.replace(/ha-agent$/, 'hactl');

const started = process.hrtime.bigint();
const elapsed = (at: bigint = process.hrtime.bigint()) => `${(Number(at - started) / 1e9).toFixed(3).padStart(7)} s`;
const say = (line: string) => process.stdout.write(`${line}\n`);
const step = (line: string) => say(`[${elapsed()}] ${line}`);

function follow(agent: AgentHandle, name: string): void {
  for (const t of agent.transitions) step(`${name}: ${t.from} -> ${t.to}  (${t.reason})`);
  agent.process.onLine((line) => {
    try {
      const rec = JSON.parse(line) as { from?: string; to?: string; reason?: string };
      if (rec.from && rec.to) step(`${name}: ${rec.from} -> ${rec.to}  (${rec.reason})`);
    } catch {
      // not a log line of ours
    }
  });
}

function servedTable(records: ClientRecord[], from: bigint): string[] {
  const summary = summarizeClient(records, { from });
  const lines: string[] = [];
  let previousEnd: bigint | undefined;
  for (const span of summary.servedBy) {
    if (previousEnd !== undefined) {
      const gap = Number(span.fromNs - previousEnd) / 1e6;
      if (gap > 20) lines.push(`           no answer for ${gap.toFixed(1)} ms`);
    }
    lines.push(`   [${elapsed(span.fromNs)} .. ${elapsed(span.toNs)}] ${span.server} served ${span.count} requests`);
    previousEnd = span.toNs;
  }
  return lines;
}

async function main(): Promise<number> {
  const reason = labUnavailableReason();
  if (reason) {
    process.stderr.write(`demo: ${reason}\n`);
    return 1;
  }
  say('keepquorum demo: a VRRP pair in front of nginx, on a lab built from network namespaces');
  const lab = await Lab.create();
  try {
    const seg = await buildSegment(lab, { gateway: true, client: true, pairs: 1, nats: 3 });
    const pair = seg.pairs[0]!;
    const client = seg.client!;
    step(`lab ${lab.prefix}: gateway 198.18.0.1, ${pair.a.name} ${pair.a.ipv4}, ${pair.b.name} ${pair.b.ipv4}, client ${client.ipv4}; VIP ${pair.vip.ipv4} (VRID ${pair.vip.vrid})`);

    step('starting a 3-server NATS JetStream cluster (198.18.0.2-4) for the event log');
    const nats = await startNatsCluster(seg.nats);
    const natsUrls = nats.urls.join(',');
    const eventFlags = (host: string) => ['--nats', natsUrls, '--cluster', 'dc1', '--state-dir', join(lab.dir, `${host}-state`)];

    step(`starting nginx on ${pair.a.name} and ${pair.b.name} (each answers with its own name)`);
    await startNginx(pair.a);
    await startNginx(pair.b);

    const conf = (priority: number) =>
      keepalivedConf({ vrid: pair.vip.vrid, priority, advertInt: 0.1, version: 3, vips: [pair.vip.ipv4Cidr], routerId: `${priority === 100 ? pair.a.name : pair.b.name}` });
    say('');
    say(`the keepalived.conf both agents read (priority 100 on ${pair.a.name}, 90 on ${pair.b.name}):`);
    for (const l of conf(100).trimEnd().split('\n')) say(`   | ${l}`);
    say('');
    step(`starting ha-agent --keepalived-conf FILE --nats ... --cluster dc1 on ${pair.a.name} and ${pair.b.name}`);
    const agentA = await startAgent(pair.a, conf(100), { extraArgs: eventFlags(pair.a.name) });
    follow(agentA, pair.a.name);
    const agentB = await startAgent(pair.b, conf(90), { extraArgs: eventFlags(pair.b.name) });
    follow(agentB, pair.b.name);
    await agentA.waitForState('VI_1', 'MASTER', 10_000);
    await agentB.waitForState('VI_1', 'BACKUP', 10_000);

    step(`client: GET http://${pair.vip.ipv4}/ every 10 ms (100 ms timeout each)`);
    const watch = await startSplitBrainWatch([pair.a, pair.b], pair.vip.ipv4);
    const traffic = startClient(client, pair.vip.ipv4, { durationMs: 6000 });
    await traffic.waitFor((r) => r.ok, 3000);
    await new Promise((r) => setTimeout(r, 1500));

    const crashAt = process.hrtime.bigint();
    step(`powering ${pair.a.name} off: every process killed, its cable pulled`);
    await pair.a.powerOff();
    await agentB.waitForState('VI_1', 'MASTER', 5000);
    await traffic.waitFor((r) => r.ok && r.server === pair.b.name, 3000);
    await new Promise((r) => setTimeout(r, 1000));
    const records = await traffic.stop();
    const sb = await watch.stop();

    const summary = summarizeClient(records, { from: crashAt });
    const mdi = masterDownIntervalMs(3, 90, 10);
    say('');
    say('who served when:');
    for (const l of servedTable(records, crashAt - 1_500_000_000n)) say(l);
    say('');
    say(`client downtime after the crash: ${summary.downtimeMs.toFixed(1)} ms  (Master_Down_Interval ${mdi.toFixed(1)} ms at advert 0.1 s, priority 90)`);
    say(`split-brain (two hosts holding the VIP): ${sb.splitBrainMs} ms`);
    say(`requests: ${summary.requests}, answered ${summary.ok}, failed ${summary.failed}`);
    say('');
    // The audit trail: what the log says happened, read back from JetStream by the operator CLI.
    await new Promise((r) => setTimeout(r, 500));
    say(`the failover in the event log (hactl history --cluster dc1, run on the client):`);
    const timeline = await client.exec(process.execPath, [HACTL, 'history', '--nats', natsUrls, '--cluster', 'dc1'], { allowFail: true });
    for (const l of timeline.trimEnd().split('\n')) say(`   ${l}`);
    say('');
    step('tearing the lab down');
    return 0;
  } finally {
    await lab.destroy();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`demo failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
