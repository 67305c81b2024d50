/**
 * One rtnetlink request socket per process, shared by the interface lookup
 * and the VIP code. It is unreferenced while idle (the netlink package refs
 * it only while a request waits), so it never keeps a process alive.
 */
import * as netlink from 'netlink';
import { KqError } from '../../common/src/errors.js';

export type RtNetlinkSocket = ReturnType<typeof netlink.createRtNetlink>;
export type LinkMessage = netlink.rt.LinkMessage;
export type AddressMessage = netlink.rt.AddressMessage;

/** Requests that the kernel has not answered in this long have gone wrong (the kernel answers in microseconds). */
const REQUEST_TIMEOUT_MS = 5000;

let shared: RtNetlinkSocket | undefined;

export function rtnetlink(): RtNetlinkSocket {
  if (!shared) {
    try {
      shared = netlink.createRtNetlink();
    } catch (cause) {
      throw new KqError('KQ_ERR_NETLINK', `cannot open a netlink socket: ${(cause as Error).message}`, undefined, { cause });
    }
    shared.socket.on('error', () => {
      // A broken socket is replaced on the next request.
      shared = undefined;
    });
  }
  return shared;
}

export const requestOptions = { timeout: REQUEST_TIMEOUT_MS } as const;

let tail: Promise<unknown> = Promise.resolve();

/**
 * Runs one request on the shared socket at a time. The kernel refuses a dump
 * on a socket while another dump is in progress there (EBUSY), and a master
 * announcing several VIPs asks for the interface several times at once.
 */
export function rtRequest<T>(fn: (socket: RtNetlinkSocket) => Promise<T>): Promise<T> {
  const run = tail.then(() => fn(rtnetlink()));
  tail = run.catch(() => undefined);
  return run;
}

/**
 * The errno name of a netlink failure ("EEXIST"), or undefined. The netlink
 * package reports a kernel refusal as `Error("Request rejected: EEXIST")`.
 */
export function netlinkErrno(error: unknown): string | undefined {
  const message = (error as Error | undefined)?.message ?? '';
  return /Request rejected: (\w+)/.exec(message)?.[1];
}

export function netlinkError(what: string, cause: unknown): KqError {
  const errno = netlinkErrno(cause);
  const hint = errno === 'EPERM' || errno === 'EACCES' ? ' (needs CAP_NET_ADMIN: run as root or grant the capability)' : '';
  return new KqError(
    errno === 'EPERM' || errno === 'EACCES' ? 'KQ_ERR_PRIVILEGE' : 'KQ_ERR_NETLINK',
    `${what}: ${errno ?? (cause as Error)?.message ?? String(cause)}${hint}`,
    undefined,
    { cause },
  );
}

export const AF_INET = 2;
export const AF_INET6 = 10;
