#!/usr/bin/env node
// Turn a tcpdump pcap of VRRP adverts into a libs/vrrp golden fixture.
// Used by scripts/capture-keepalived-adverts.sh; no dependencies.
//
// Keeps the first few adverts at the configured priority and the first
// priority-0 advert (the one a stopping master sends), each with the IP
// header fields the codec needs (src, dst, ttl) and the VRRP payload in hex.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    pcap: { type: 'string' },
    conf: { type: 'string' },
    keepalived: { type: 'string' },
    description: { type: 'string' },
    out: { type: 'string' },
    keep: { type: 'string', default: '3' },
  },
});
for (const name of ['pcap', 'conf', 'keepalived', 'description', 'out']) {
  if (!args[name]) throw new Error(`--${name} is required`);
}

const LINKTYPE_ETHERNET = 1;
const VRRP = 112;

function readPcap(file) {
  const buf = readFileSync(file);
  if (buf.length < 24) throw new Error(`${file}: no pcap header`);
  const magic = buf.readUInt32LE(0);
  let le;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = false;
  else throw new Error(`${file}: not a pcap file (magic 0x${magic.toString(16)})`);
  const u32 = (o) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linktype = u32(20);
  if (linktype !== LINKTYPE_ETHERNET) throw new Error(`${file}: link type ${linktype}, expected Ethernet`);
  const frames = [];
  for (let o = 24; o + 16 <= buf.length; ) {
    const caplen = u32(o + 8);
    frames.push(buf.subarray(o + 16, o + 16 + caplen));
    o += 16 + caplen;
  }
  return frames;
}

function ipv4Text(b) {
  return [...b].join('.');
}

function ipv6Text(b) {
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  // Compress the longest run of two or more zero groups, as RFC 5952 says.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function parseFrame(frame) {
  let offset = 12;
  let ethertype = frame.readUInt16BE(offset);
  offset += 2;
  if (ethertype === 0x8100) { ethertype = frame.readUInt16BE(offset + 2); offset += 4; }
  if (ethertype === 0x0800) {
    const ip = frame.subarray(offset);
    const ihl = (ip[0] & 0x0f) * 4;
    if (ip[9] !== VRRP) return null;
    const total = ip.readUInt16BE(2);
    return {
      family: 4,
      src: ipv4Text(ip.subarray(12, 16)),
      dst: ipv4Text(ip.subarray(16, 20)),
      ttl: ip[8],
      ipHeaderHex: ip.subarray(0, ihl).toString('hex'),
      payloadHex: ip.subarray(ihl, total).toString('hex'),
    };
  }
  if (ethertype === 0x86dd) {
    const ip = frame.subarray(offset);
    if (ip[6] !== VRRP) return null; // keepalived sends no extension headers
    const length = ip.readUInt16BE(4);
    return {
      family: 6,
      src: ipv6Text(ip.subarray(8, 24)),
      dst: ipv6Text(ip.subarray(24, 40)),
      ttl: ip[7],
      ipHeaderHex: ip.subarray(0, 40).toString('hex'),
      payloadHex: ip.subarray(40, 40 + length).toString('hex'),
    };
  }
  return null;
}

const packets = readPcap(args.pcap).map(parseFrame).filter(Boolean);
const keep = Number(args.keep);
const running = packets.filter((p) => Buffer.from(p.payloadHex, 'hex')[2] !== 0).slice(0, keep);
const resign = packets.find((p) => Buffer.from(p.payloadHex, 'hex')[2] === 0);
if (running.length < keep) throw new Error(`${args.pcap}: ${running.length} adverts captured, wanted ${keep}`);
if (!resign) throw new Error(`${args.pcap}: no priority-0 advert captured on shutdown`);

const fixture = {
  comment:
    'Captured from a real keepalived by scripts/capture-keepalived-adverts.sh: keepalived runs in a throwaway ' +
    'network namespace, tcpdump in a peer namespace on the other end of a veth pair; the last packet is the ' +
    'priority-0 advert keepalived sends when stopped (SIGTERM) as master. Regenerate with that script; do not edit.',
  keepalived: args.keepalived,
  description: args.description,
  config: readFileSync(args.conf, 'utf8'),
  packets: [...running, resign],
};
writeFileSync(args.out, `${JSON.stringify(fixture, null, 2)}\n`);
console.log(`${args.out}: ${fixture.packets.length} packets`);
