/**
 * Reads the whole HA_EVENTS stream with libs/events' history reader from inside
 * a lab namespace (a Node process cannot enter one, so the soak runs this with
 * LabHost.spawnNode) and prints one JSON line:
 *
 *   {"ok":true,"summary":{read,delivered,invalid,duplicates,late,resets,gaps},
 *    "events":[["a1",1,"a1-<boot>-1"],…]}     (node, seq, id in stream order)
 *
 * Exit 0 when read, 1 when not (with "error"), 2 for bad arguments. Bounded by --max-ms.
 *
 *   --servers URL[,URL…]  --cluster dc1  --max-ms 60000
 */
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import { collectHistory } from '../../libs/events/src/mod.js';

const { values } = parseArgs({
  options: {
    servers: { type: 'string' },
    cluster: { type: 'string' },
    'max-ms': { type: 'string', default: '60000' },
  },
});
if (!values.servers) {
  process.stderr.write('read-events: --servers URL[,URL...] is required\n');
  process.exit(2);
}
const maxMs = Number(values['max-ms']);
if (!Number.isInteger(maxMs) || maxMs < 1) {
  process.stderr.write(`read-events: --max-ms must be a positive integer, got ${values['max-ms']}\n`);
  process.exit(2);
}

const bound = setTimeout(() => {
  process.stdout.write(`${JSON.stringify({ ok: false, error: `gave up after --max-ms ${maxMs}` })}\n`);
  process.exit(1);
}, maxMs);

try {
  const nc = await connect({ servers: values.servers.split(','), timeout: 5000, maxReconnectAttempts: -1 });
  const r = await collectHistory(nc.jetstream(), values.cluster ? { cluster: values.cluster } : {}, { createTimeoutMs: Math.max(1000, maxMs - 5000) });
  const { events, ...summary } = r;
  clearTimeout(bound);
  await nc.close();
  // A large line on a pipe is written asynchronously: exit only once it is out.
  process.stdout.write(`${JSON.stringify({ ok: true, summary, events: events.map((e) => [e.node, e.seq, e.id]) })}\n`, () => process.exit(0));
} catch (e) {
  process.stdout.write(`${JSON.stringify({ ok: false, error: (e as Error).message })}\n`);
  process.exit(1);
}
