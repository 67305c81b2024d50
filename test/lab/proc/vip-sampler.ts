/**
 * Watches whether this network namespace holds a VIP, from outside the agents.
 *
 * Every interval it dumps the namespace's addresses over netlink and, for each
 * interface that carries the VIP, reads the link's flags. The namespace holds
 * the VIP when the address sits on an interface that is admin-up and has
 * carrier: a powered-off host (cable pulled) does not hold it, even if the
 * address is still configured. Prints one JSON line per change:
 *
 *   {"t":"<CLOCK_MONOTONIC ns of the sample>","held":true,"ifname":"eth0"}
 *
 * The first sample is always printed (the watcher's "ready"), and a last line
 * with "end":true when it stops (after --duration-ms, or on SIGTERM).
 *
 *   --vip ADDR  --interval-ms 5  --duration-ms 60000
 */
import { isIPv4, isIPv6 } from 'node:net';
import { parseArgs } from 'node:util';
import { createRtNetlink } from 'netlink';

const { values } = parseArgs({
  options: {
    vip: { type: 'string' },
    'interval-ms': { type: 'string', default: '5' },
    'duration-ms': { type: 'string', default: '60000' },
  },
});

function fail(message: string): never {
  process.stderr.write(`vip-sampler: ${message}\n`);
  process.exit(2);
}

function positive(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) fail(`--${name} must be a positive number, got ${text}`);
  return n;
}

/** The address as the kernel stores it (network byte order). */
function addressBytes(text: string): Buffer {
  if (isIPv4(text)) return Buffer.from(text.split('.').map(Number));
  if (!isIPv6(text) || text.includes('.')) fail(`--vip ${text} is not an IPv4 or plain IPv6 address`);
  const [head = '', tail] = text.split('::');
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(Number.parseInt(g, 16), i * 2));
  return out;
}

const vipText = values.vip ?? fail('--vip ADDR is required');
const vip = addressBytes(vipText);
const family = vip.length === 4 ? 2 /* AF_INET */ : 10; /* AF_INET6 */
const intervalNs = BigInt(Math.round(positive('interval-ms', values['interval-ms']) * 1e6));
const durationMs = positive('duration-ms', values['duration-ms']);

const socket = createRtNetlink();
const startNs = process.hrtime.bigint();
const deadlineNs = startNs + BigInt(Math.round(durationMs * 1e6));
let last: boolean | undefined;
let stopping = false;
let timer: NodeJS.Timeout | undefined;

function print(line: Record<string, unknown>): void {
  // stdout is a pipe: writes are synchronous on Linux, so a line is out before exit.
  process.stdout.write(JSON.stringify(line) + '\n');
}

async function sample(): Promise<{ t: bigint; held: boolean; ifname?: string }> {
  const t = process.hrtime.bigint();
  const addrs = await socket.getAddresses({ family });
  for (const a of addrs) {
    // IFA_LOCAL is the address itself on IPv4; IPv6 only sends IFA_ADDRESS.
    const bytes = a.attrs.local ?? a.attrs.address;
    if (!bytes || !vip.equals(bytes) || a.data.index === undefined) continue;
    const [link] = await socket.getLink({ index: a.data.index });
    const flags = link?.data.flags;
    if (flags?.up && flags.lowerUp) {
      const ifname = link?.attrs.ifname;
      return ifname === undefined ? { t, held: true } : { t, held: true, ifname };
    }
  }
  return { t, held: false };
}

async function tick(): Promise<void> {
  timer = undefined;
  if (stopping) return;
  if (process.hrtime.bigint() >= deadlineNs) return stop();
  try {
    const s = await sample();
    if (s.held !== last) {
      last = s.held;
      const line: Record<string, unknown> = { t: s.t.toString(), held: s.held };
      if (s.ifname !== undefined) line.ifname = s.ifname;
      print(line);
    }
  } catch (e) {
    process.stderr.write(`vip-sampler: netlink: ${(e as Error).message}\n`);
  }
  if (stopping) return;
  // Stay on the grid start + k·interval; a slow sample delays the next one
  // instead of making samples pile up.
  const now = process.hrtime.bigint();
  const k = (now - startNs) / intervalNs + 1n;
  timer = setTimeout(() => void tick(), Math.max(0, Number(startNs + k * intervalNs - now) / 1e6));
}

function stop(): void {
  if (stopping) return;
  stopping = true;
  if (timer) clearTimeout(timer);
  print({ t: process.hrtime.bigint().toString(), held: last ?? false, end: true });
  socket.socket.close();
  process.exit(0);
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
void tick();
