/**
 * The two native modules this lib stands on, loaded once with types and with
 * an error that says what to do when one is missing: raw-socket (IPv4
 * protocol 112 with IP_HDRINCL) and our own addon in ../native (AF_PACKET
 * frames, and the IPv6 protocol-112 socket that needs recvmsg).
 */
import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';
import { KqError } from '../../common/src/errors.js';

const require = createRequire(import.meta.url);

/** Byte offsets in the metadata buffer the addon fills per received IPv6 packet. */
export const NativeMeta = {
  source: 0,
  destination: 16,
  hopLimit: 32,
  ifindex: 36,
  size: 40,
} as const;

/** An opaque handle owned by the addon. */
export type Vrrp6Handle = { readonly __vrrp6: unique symbol };

export interface NativeAddon {
  /** Sends one Ethernet frame; returns 0 or an errno value. */
  packetSend(ifindex: number, frame: Buffer, length?: number): number;
  /** Sends one rtnetlink request that asks for an ACK and waits for it; returns 0 or the errno (ETIMEDOUT/EAGAIN after 2 s). */
  rtnlAck(message: Buffer): number;
  /** A send-only IPv4 socket for protocol 112 (IP_HDRINCL: the caller writes the IP header) bound to an interface; returns its fd. */
  raw4Open(ifname: string, ifindex: number): number;
  /** Sends one IPv4 packet at once; returns 0 or an errno value. */
  raw4Send(fd: number, packet: Buffer, length: number, destination: Buffer): number;
  raw4Close(fd: number): void;
  /**
   * Opens the IPv6 protocol-112 socket on an interface. `onPacket(n)` runs on
   * the loop for each packet: n > 0 is its length in recvBuffer (metadata in
   * metaBuffer), n < 0 a receive error (-errno). Throws an Error whose code is
   * the errno name.
   */
  vrrp6Open(ifindex: number, ifname: string, recvBuffer: Buffer, metaBuffer: Buffer, onPacket: (n: number) => void): Vrrp6Handle;
  vrrp6Join(handle: Vrrp6Handle, group: Buffer): void;
  vrrp6Leave(handle: Vrrp6Handle, group: Buffer): void;
  /** Returns 0 or an errno value; never throws for a network error. */
  vrrp6Send(handle: Vrrp6Handle, payload: Buffer, length: number, destination: Buffer, source: Buffer | null): number;
  vrrp6Close(handle: Vrrp6Handle): void;
  vrrp6Ref(handle: Vrrp6Handle, keepsLoopAlive: boolean): void;
  readonly META_SIZE: number;
}

/** The part of raw-socket's API this lib uses. */
export interface RawSocket extends EventEmitter {
  send(
    buffer: Buffer,
    offset: number,
    length: number,
    address: string,
    afterSend: (error: Error | null, bytes: number) => void,
  ): RawSocket;
  setOption(level: number, option: number, value: number): void;
  setOption(level: number, option: number, value: Buffer, length: number): void;
  close(): RawSocket;
  pauseRecv(): RawSocket;
  resumeRecv(): RawSocket;
}

export interface RawSocketModule {
  createSocket(options: { protocol: number; addressFamily?: number; bufferSize?: number }): RawSocket;
  AddressFamily: { IPv4: number; IPv6: number };
}

let addon: NativeAddon | undefined;
let rawSocket: RawSocketModule | undefined;

export function nativeAddon(): NativeAddon {
  if (addon) return addon;
  try {
    addon = require('@keepquorum/net-native') as NativeAddon;
  } catch (cause) {
    throw new KqError(
      'KQ_ERR_NATIVE_ADDON',
      'the native addon @keepquorum/net-native (libs/net/native) is not built: run `npm install` in the repository ' +
        '(it compiles with node-gyp and needs gcc, make and python3)',
      undefined,
      { cause },
    );
  }
  if (addon.META_SIZE !== NativeMeta.size) {
    const built = addon.META_SIZE;
    addon = undefined;
    throw new KqError('KQ_ERR_NATIVE_ADDON', `the native addon is stale (metadata ${built} bytes, expected ${NativeMeta.size}): run \`npm rebuild @keepquorum/net-native\``);
  }
  return addon;
}

export function rawSocketModule(): RawSocketModule {
  if (rawSocket) return rawSocket;
  try {
    rawSocket = require('raw-socket') as RawSocketModule;
  } catch (cause) {
    throw new KqError(
      'KQ_ERR_NATIVE_ADDON',
      'the raw-socket module is not built: run `npm install` in the repository (it compiles with node-gyp)',
      undefined,
      { cause },
    );
  }
  return rawSocket;
}

/** The errno name of a native error ("EPERM"), or undefined. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
