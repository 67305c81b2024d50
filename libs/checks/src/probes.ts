/**
 * Built-in probes, the checks a keepalived user would otherwise script:
 * ICMP echo (layer 3), TCP connect (layer 4), HTTP/HTTPS GET with status and
 * body digest (layer 7, keepalived's HTTP_GET / SSL_GET). Each has a timeout,
 * returns {ok, latencyMs, detail} and never throws.
 */
import { isIP, connect as netConnect, type Socket } from 'node:net';
import type { ClientRequest, IncomingMessage, RequestOptions } from 'node:http';
import type { RequestOptions as HttpsRequestOptions } from 'node:https';
import { monotonicMs } from '../../common/src/clock.js';
import { rawSocketModule, errnoCode, type RawSocket } from '../../net/src/native.js';

export interface ProbeResult {
  ok: boolean;
  /** Until the answer, or until the failure was known. */
  latencyMs: number;
  /** What happened, for logs and events: "echo reply from 198.18.0.10", "ECONNREFUSED". */
  detail: string;
}

function ms(value: number): string {
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`;
}

function errorText(e: unknown): string {
  const code = errnoCode(e);
  const message = (e as Error | undefined)?.message ?? String(e);
  return code && !message.includes(code) ? `${code} ${message}` : message;
}

// ---------------------------------------------------------------------------
// ICMP echo

export interface IcmpProbeOptions {
  /** IPv4 or IPv6 address (not link-local: raw-socket cannot carry a scope). */
  address: string;
  timeoutMs: number;
  /** Send through this interface only (SO_BINDTODEVICE). */
  device?: string;
}

const IPPROTO_ICMP = 1;
const IPPROTO_ICMPV6 = 58;
const SOL_SOCKET = 1;
const SO_BINDTODEVICE = 25;
const ICMP_ECHO_REPLY = 0;
const ICMP_ECHO_REQUEST = 8;
const ICMP_UNREACHABLE = 3;
const ICMP_TIME_EXCEEDED = 11;
const ICMP6_UNREACHABLE = 1;
const ICMP6_TIME_EXCEEDED = 3;
const ICMP6_ECHO_REQUEST = 128;
const ICMP6_ECHO_REPLY = 129;
/** Random bytes in the payload tell our reply from any other process's (every raw socket sees every ICMP packet). */
const COOKIE_BYTES = 8;

/** The Internet checksum (RFC 1071). */
export function internetChecksum(data: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < data.length; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  if (data.length % 2 === 1) sum += data[data.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An ICMP (v4) or ICMPv6 echo request. The kernel fills the ICMPv6 checksum itself. */
export function buildEchoRequest(family: 4 | 6, id: number, seq: number, payload: Buffer): Buffer {
  const packet = Buffer.alloc(8 + payload.length);
  packet[0] = family === 4 ? ICMP_ECHO_REQUEST : ICMP6_ECHO_REQUEST;
  packet.writeUInt16BE(id, 4);
  packet.writeUInt16BE(seq, 6);
  payload.copy(packet, 8);
  if (family === 4) packet.writeUInt16BE(internetChecksum(packet), 2);
  return packet;
}

type EchoMatch = { kind: 'reply' } | { kind: 'error'; text: string } | undefined;

/**
 * Reads one received ICMP message: our echo reply, an error about our echo
 * request (unreachable, time exceeded), or nothing of ours. IPv4 raw sockets
 * deliver the IP header first; IPv6 ones do not.
 */
export function matchEcho(family: 4 | 6, packet: Buffer, id: number, seq: number, cookie: Buffer): EchoMatch {
  let icmp = packet;
  if (family === 4) {
    if (packet.length < 20) return undefined;
    icmp = packet.subarray((packet[0]! & 0x0f) * 4);
  }
  if (icmp.length < 8) return undefined;
  const type = icmp[0]!;
  const code = icmp[1]!;
  const replyType = family === 4 ? ICMP_ECHO_REPLY : ICMP6_ECHO_REPLY;
  if (type === replyType) {
    const ours = icmp.readUInt16BE(4) === id && icmp.readUInt16BE(6) === seq && icmp.subarray(8, 8 + cookie.length).equals(cookie);
    return ours ? { kind: 'reply' } : undefined;
  }
  const isError = family === 4 ? type === ICMP_UNREACHABLE || type === ICMP_TIME_EXCEEDED : type === ICMP6_UNREACHABLE || type === ICMP6_TIME_EXCEEDED;
  if (!isError) return undefined;
  // The error quotes our request: its IP header, then at least 8 bytes of ICMP.
  const quoted = icmp.subarray(8);
  let inner: Buffer;
  if (family === 4) {
    if (quoted.length < 20) return undefined;
    inner = quoted.subarray((quoted[0]! & 0x0f) * 4);
  } else {
    if (quoted.length < 40) return undefined;
    inner = quoted.subarray(40);
  }
  const requestType = family === 4 ? ICMP_ECHO_REQUEST : ICMP6_ECHO_REQUEST;
  if (inner.length < 8 || inner[0] !== requestType || inner.readUInt16BE(4) !== id || inner.readUInt16BE(6) !== seq) return undefined;
  const unreachable = family === 4 ? type === ICMP_UNREACHABLE : type === ICMP6_UNREACHABLE;
  return { kind: 'error', text: `${unreachable ? 'destination unreachable' : 'time exceeded'} (ICMP${family === 6 ? 'v6' : ''} type ${type} code ${code})` };
}

export function probeIcmp(options: IcmpProbeOptions): Promise<ProbeResult> {
  const started = monotonicMs();
  const fail = (detail: string): ProbeResult => ({ ok: false, latencyMs: monotonicMs() - started, detail });
  const family = isIP(options.address);
  if (family !== 4 && family !== 6) return Promise.resolve(fail(`'${options.address}' is not an IP address`));

  let socket: RawSocket;
  try {
    const raw = rawSocketModule();
    socket = raw.createSocket({
      protocol: family === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6,
      addressFamily: family === 4 ? raw.AddressFamily.IPv4 : raw.AddressFamily.IPv6,
    });
    if (options.device !== undefined) {
      const name = Buffer.from(`${options.device}\0`);
      socket.setOption(SOL_SOCKET, SO_BINDTODEVICE, name, name.length);
    }
  } catch (e) {
    const hint = errnoCode(e) === 'EPERM' || /not permitted/i.test(String(e)) ? ' (a raw ICMP socket needs root or CAP_NET_RAW)' : '';
    return Promise.resolve(fail(`cannot open a raw ICMP socket: ${errorText(e)}${hint}`));
  }

  const id = (Math.random() * 0x10000) >>> 0;
  const seq = (Math.random() * 0x10000) >>> 0;
  // Not a secret: it only tells our replies from another pinger's on the same raw socket.
  const cookie = Buffer.from(Array.from({ length: COOKIE_BYTES }, () => (Math.random() * 256) >>> 0));
  const payload = Buffer.concat([cookie, Buffer.from('keepquorum')]);
  const packet = buildEchoRequest(family, id, seq, payload);

  return new Promise<ProbeResult>((resolve) => {
    let done = false;
    const finish = (result: ProbeResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.removeAllListeners('message');
      try {
        socket.close();
      } catch {
        // closed already (raw-socket closes itself after an error)
      }
      resolve(result);
    };
    const timer = setTimeout(() => finish(fail(`no echo reply from ${options.address} within ${ms(options.timeoutMs)}`)), options.timeoutMs);
    socket.on('message', (data: Buffer, source: string) => {
      const match = matchEcho(family, data, id, seq, cookie);
      if (match?.kind === 'reply') {
        const latencyMs = monotonicMs() - started;
        finish({ ok: true, latencyMs, detail: `echo reply from ${source} in ${ms(latencyMs)}` });
      } else if (match?.kind === 'error') {
        finish(fail(`${match.text} from ${source} for ${options.address}`));
      }
    });
    socket.on('error', (e: unknown) => finish(fail(`ICMP socket error: ${errorText(e)}`)));
    socket.send(packet, 0, packet.length, options.address, (error) => {
      if (error) finish(fail(`cannot send an echo request to ${options.address}: ${errorText(error)}`));
    });
  });
}

// ---------------------------------------------------------------------------
// TCP connect

export interface TcpProbeOptions {
  address: string;
  port: number;
  timeoutMs: number;
  /** Connect from this local address (keepalived `bindto`). */
  sourceAddress?: string;
}

export function probeTcp(options: TcpProbeOptions): Promise<ProbeResult> {
  const started = monotonicMs();
  const target = isIP(options.address) === 6 ? `[${options.address}]:${options.port}` : `${options.address}:${options.port}`;
  return new Promise<ProbeResult>((resolve) => {
    let socket: Socket | undefined;
    let done = false;
    const finish = (ok: boolean, detail: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket?.destroy();
      resolve({ ok, latencyMs: monotonicMs() - started, detail });
    };
    const timer = setTimeout(() => finish(false, `no connection to ${target} within ${ms(options.timeoutMs)}`), options.timeoutMs);
    try {
      const connectOptions: { host: string; port: number; localAddress?: string } = { host: options.address, port: options.port };
      if (options.sourceAddress !== undefined) connectOptions.localAddress = options.sourceAddress;
      socket = netConnect(connectOptions);
      socket.once('connect', () => finish(true, `connected to ${target} in ${ms(monotonicMs() - started)}`));
      socket.on('error', (e) => finish(false, `cannot connect to ${target}: ${errorText(e)}`));
    } catch (e) {
      finish(false, `cannot connect to ${target}: ${errorText(e)}`);
    }
  });
}

// ---------------------------------------------------------------------------
// HTTP / HTTPS GET

export type StatusCodeRange = number | readonly [number, number];

export interface HttpProbeOptions {
  address: string;
  /** Default 80, or 443 with tls. */
  port?: number;
  /** HTTPS (keepalived SSL_GET). */
  tls?: boolean;
  /** Default '/'. */
  path?: string;
  /** The Host header (and TLS server name); keepalived `virtualhost`. Default: the address. */
  virtualHost?: string;
  /** Accepted status codes. Default 200-299, as keepalived's HTTP_GET. */
  statusCodes?: readonly StatusCodeRange[];
  /** MD5 of the body, 32 hex digits (keepalived `digest`, what `genhash` prints). */
  digest?: string;
  /** Verify the server's certificate. Default true; false accepts any certificate, self-signed included. */
  verifyTls?: boolean;
  timeoutMs: number;
  sourceAddress?: string;
}

export const DEFAULT_STATUS_CODES: readonly StatusCodeRange[] = [[200, 299]];

export function statusAccepted(status: number, accepted: readonly StatusCodeRange[]): boolean {
  return accepted.some((r) => (typeof r === 'number' ? status === r : status >= r[0] && status <= r[1]));
}

export function formatStatusCodes(accepted: readonly StatusCodeRange[]): string {
  return accepted.map((r) => (typeof r === 'number' ? String(r) : r[0] === r[1] ? String(r[0]) : `${r[0]}-${r[1]}`)).join(', ');
}

export async function probeHttp(options: HttpProbeOptions): Promise<ProbeResult> {
  const started = monotonicMs();
  // Loaded on first use: http, https (OpenSSL) and crypto cost the agent megabytes
  // of resident memory that an agent without HTTP probes should not pay.
  const [{ request: httpRequest }, { request: httpsRequest }, { createHash }] = await Promise.all([
    import('node:http'),
    import('node:https'),
    import('node:crypto'),
  ]);
  const tls = options.tls ?? false;
  const port = options.port ?? (tls ? 443 : 80);
  const path = options.path ?? '/';
  const accepted = options.statusCodes ?? DEFAULT_STATUS_CODES;
  const hostPart = isIP(options.address) === 6 ? `[${options.address}]` : options.address;
  const url = `${tls ? 'https' : 'http'}://${hostPart}:${port}${path}`;
  const expectedDigest = options.digest?.toLowerCase();

  return new Promise<ProbeResult>((resolve) => {
    let done = false;
    let req: ClientRequest | undefined;
    const finish = (ok: boolean, detail: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req?.destroy();
      resolve({ ok, latencyMs: monotonicMs() - started, detail });
    };
    const timer = setTimeout(() => finish(false, `GET ${url}: no complete answer within ${ms(options.timeoutMs)}`), options.timeoutMs);

    if (expectedDigest !== undefined && !/^[0-9a-f]{32}$/.test(expectedDigest)) {
      finish(false, `digest '${options.digest}' is not an MD5 digest (32 hex digits)`);
      return;
    }
    const headers: Record<string, string> = {
      'User-Agent': 'keepquorum',
      Connection: 'close',
    };
    if (options.virtualHost !== undefined) headers['Host'] = options.virtualHost;
    const requestOptions: RequestOptions & HttpsRequestOptions = {
      host: options.address,
      port,
      path,
      method: 'GET',
      headers,
      // A fresh connection each time: a pooled one would hide a server that stopped accepting.
      agent: false,
    };
    if (options.sourceAddress !== undefined) requestOptions.localAddress = options.sourceAddress;
    if (tls) {
      requestOptions.rejectUnauthorized = options.verifyTls ?? true;
      if (options.virtualHost !== undefined && isIP(options.virtualHost) === 0) requestOptions.servername = options.virtualHost;
    }

    const onResponse = (res: IncomingMessage): void => {
      // finish() destroys the request; a body still arriving then errors, and that is no news.
      res.on('error', (e) => finish(false, `GET ${url}: body: ${errorText(e)}`));
      const status = res.statusCode ?? 0;
      if (!statusAccepted(status, accepted)) {
        res.resume();
        finish(false, `GET ${url}: HTTP ${status}; expected ${formatStatusCodes(accepted)}`);
        return;
      }
      if (expectedDigest === undefined) {
        res.resume();
        finish(true, `GET ${url}: HTTP ${status} in ${ms(monotonicMs() - started)}`);
        return;
      }
      const hash = createHash('md5');
      res.on('data', (chunk: Buffer) => hash.update(chunk));
      res.once('end', () => {
        const got = hash.digest('hex');
        if (got === expectedDigest) finish(true, `GET ${url}: HTTP ${status}, digest ${got} in ${ms(monotonicMs() - started)}`);
        else finish(false, `GET ${url}: HTTP ${status}, body digest ${got}; expected ${expectedDigest}`);
      });
    };

    try {
      req = tls ? httpsRequest(requestOptions, onResponse) : httpRequest(requestOptions, onResponse);
      // `on`, not `once`: a destroyed request may report a second error, which must not go unhandled.
      req.on('error', (e) => {
        const code = errnoCode(e) ?? '';
        const hint = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(code) ? ' (verifyTls: false accepts it)' : '';
        finish(false, `GET ${url}: ${errorText(e)}${hint}`);
      });
      req.end();
    } catch (e) {
      finish(false, `GET ${url}: ${errorText(e)}`);
    }
  });
}
