/**
 * Sends hand-made protocol-112 payloads on a lab segment: the hostile or broken
 * peer of the bad-packet tests. A plain raw socket (not ours), so the TTL is
 * whatever the test asks, and the payload bytes are exactly the test's.
 *
 *   node vrrp-sender.js FILE.json
 *   FILE.json: {"interface":"eth0","destination":"224.0.0.18",
 *               "packets":[{"label":"ttl","hex":"31...","ttl":64,"repeat":5}]}
 *
 * Bounded: every packet is sent `repeat` times (at most 1000), 2 ms apart,
 * then the process exits. Prints one JSON line per label when sent.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

interface RawSocket {
  setOption(level: number, option: number, value: number | Buffer, length?: number): void;
  send(buffer: Buffer, offset: number, length: number, address: string, done: (error: Error | null) => void): void;
  close(): void;
}
const raw = createRequire(import.meta.url)('raw-socket') as {
  createSocket(options: { protocol: number; addressFamily?: number }): RawSocket;
  AddressFamily: { IPv4: number };
};

interface Spec {
  interface: string;
  destination: string;
  packets: Array<{ label: string; hex: string; ttl: number; repeat: number }>;
}

const SOL_SOCKET = 1;
const SO_BINDTODEVICE = 25;
const IPPROTO_IP = 0;
const IP_TTL = 2;
const IP_MULTICAST_TTL = 33;
const IP_MULTICAST_LOOP = 34;

const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Spec;
const socket = raw.createSocket({ protocol: 112, addressFamily: raw.AddressFamily.IPv4 });
const device = Buffer.from(`${spec.interface}\0`);
socket.setOption(SOL_SOCKET, SO_BINDTODEVICE, device, device.length);
socket.setOption(IPPROTO_IP, IP_MULTICAST_LOOP, 0);

const send = (payload: Buffer, ttl: number): Promise<void> =>
  new Promise((resolve) => {
    socket.setOption(IPPROTO_IP, IP_MULTICAST_TTL, ttl);
    socket.setOption(IPPROTO_IP, IP_TTL, ttl);
    socket.send(payload, 0, payload.length, spec.destination, (err) => {
      if (err) process.stdout.write(`${JSON.stringify({ error: err.message })}\n`);
      resolve();
    });
  });

for (const p of spec.packets) {
  const payload = Buffer.from(p.hex, 'hex');
  for (let i = 0; i < Math.min(p.repeat, 1000); i++) {
    await send(payload, p.ttl);
    await new Promise((r) => setTimeout(r, 2));
  }
  process.stdout.write(`${JSON.stringify({ sent: p.label, count: Math.min(p.repeat, 1000) })}\n`);
}
socket.close();
