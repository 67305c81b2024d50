/**
 * The soak's view of the audit trail: what each node journaled (its state dir,
 * read with libs/events' journal scanners) and what the stream holds (read with
 * libs/events' history reader from the client's namespace, proc/read-events.js).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeAckSlot, scanSegment } from '../libs/events/src/mod.js';
import type { LabHost } from '../test/lab/lab.js';
import { exitedAndDrained } from '../test/lab/client.js';
import type { StoredEvent } from './invariants.js';

export const READ_EVENTS_SCRIPT = fileURLToPath(new URL('./proc/read-events.js', import.meta.url));

const ACK_SLOT_BYTES = 256;
const SEGMENT = /^seg-\d{16}(-\d+)?\.jnl$/;

/** The highest seq a node journaled: its ack pointer or the highest entry in its segments, whichever is higher. */
export function journaledLastSeq(stateDir: string): number {
  let ackedThrough = 0;
  let counter = -1;
  const ackFile = join(stateDir, 'acked');
  if (existsSync(ackFile)) {
    const buf = readFileSync(ackFile);
    for (let i = 0; i + ACK_SLOT_BYTES <= buf.length && i < 2 * ACK_SLOT_BYTES; i += ACK_SLOT_BYTES) {
      const slot = decodeAckSlot(buf.subarray(i, i + ACK_SLOT_BYTES));
      if (slot && slot.counter > counter) ({ counter, ackedThrough } = slot);
    }
  }
  let last = ackedThrough;
  if (existsSync(stateDir)) {
    for (const name of readdirSync(stateDir).filter((f) => SEGMENT.test(f))) {
      scanSegment(readFileSync(join(stateDir, name)), (e) => {
        if (e.seq > last) last = e.seq;
      });
    }
  }
  return last;
}

export interface StreamRead {
  ok: boolean;
  error?: string;
  summary?: { read: number; delivered: number; invalid: number; duplicates: number; late: number; resets: number; gaps: Array<{ node: string; from: number; to: number }> };
  events: StoredEvent[];
}

let reads = 0;

/** The whole stream through libs/events' reader, run in `host` (a lab namespace that reaches NATS). */
export async function readStream(host: LabHost, urls: readonly string[], cluster: string, maxMs = 60_000): Promise<StreamRead> {
  const proc = host.spawnNode(`read-events-${++reads}`, READ_EVENTS_SCRIPT, ['--servers', urls.join(','), '--cluster', cluster, '--max-ms', String(maxMs)], { captureStdout: true });
  const { code, signal } = await exitedAndDrained(proc);
  const line = proc.lines.filter((l) => l.startsWith('{')).pop();
  if (line === undefined) return { ok: false, error: `read-events exited with code ${code}, signal ${signal}, without a result (log: ${proc.logFile})`, events: [] };
  const raw = JSON.parse(line) as { ok: boolean; error?: string; summary?: StreamRead['summary']; events?: Array<[string, number, string]> };
  // The lines are not kept: a soak reads the stream more than once.
  proc.lines.length = 0;
  const out: StreamRead = { ok: raw.ok, events: (raw.events ?? []).map(([node, seq, id]) => ({ node, seq, id })) };
  if (raw.error !== undefined) out.error = raw.error;
  if (raw.summary !== undefined) out.summary = raw.summary;
  return out;
}
