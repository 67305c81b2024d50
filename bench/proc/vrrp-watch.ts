/**
 * The bench's wire instrument: every VRRP packet seen on an interface of a
 * lab namespace, one JSON line each, stamped with CLOCK_MONOTONIC on arrival:
 *
 *   {"t":"<ns>","src":"198.18.1.1","vrid":51,"prio":100}
 *
 * It only listens (joins the group, never sends). Because every process on the
 * host shares CLOCK_MONOTONIC, the bench compares these stamps with the fault
 * instant, the client's requests and the agents' logged transitions. Stops by
 * itself after --duration-ms, or on SIGTERM, with a last {"end":true} line.
 *
 *   --interface eth0  --duration-ms 600000
 */
import { getPriority, setPriority } from 'node:os';
import { parseArgs } from 'node:util';
import { openVrrpSocket } from '../../libs/net/src/mod.js';

const { values } = parseArgs({
  options: {
    interface: { type: 'string', default: 'eth0' },
    'duration-ms': { type: 'string', default: '600000' },
  },
});

const durationMs = Number(values['duration-ms']);
if (!Number.isFinite(durationMs) || durationMs <= 0) {
  process.stderr.write(`vrrp-watch: --duration-ms must be a positive number, got ${values['duration-ms']}\n`);
  process.exit(2);
}

// An instrument must not be late itself: its arrival stamp is taken in user
// space, so its own wake-up delay counts as advert error. It runs at nice -15,
// above the agent's VRRP thread (-10) and the NATS servers (0), where it can
// (root); stderr says when it cannot.
try {
  setPriority(0, -15);
} catch (err) {
  process.stderr.write(`vrrp-watch: stays at nice ${getPriority(0)}: ${(err as Error).message}\n`);
}

const socket = await openVrrpSocket({ family: 4, interface: values.interface ?? 'eth0' });
socket.onError((err) => process.stderr.write(`vrrp-watch: ${err.message}\n`));
socket.onPacket((payload, meta) => {
  const t = process.hrtime.bigint();
  // Version/type, VRID and priority are the first three bytes in v2 and v3;
  // the bench needs nothing else, and a packet the codec would reject is still
  // worth seeing here.
  if (payload.length < 3) return;
  const line = { t: t.toString(), src: meta.source, vrid: payload[1], prio: payload[2], v: (payload[0] as number) >> 4 };
  process.stdout.write(`${JSON.stringify(line)}\n`);
});
process.stdout.write(`${JSON.stringify({ t: process.hrtime.bigint().toString(), ready: true })}\n`);

let stopped = false;
function stop(): void {
  if (stopped) return;
  stopped = true;
  clearTimeout(timer);
  process.stdout.write(`${JSON.stringify({ t: process.hrtime.bigint().toString(), end: true })}\n`);
  socket.close();
  process.exit(0);
}
const timer = setTimeout(stop, durationMs);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
