/**
 * One rtnetlink request socket per process, shared by the interface lookup
 * and the VIP code. It is unreferenced while idle (referenced only while a
 * request waits), so it never keeps a process alive.
 */
import { KqError } from '../../common/src/errors.js';
import { RtSocket, RtnetlinkError } from './rtnetlink.js';

export { AF_INET, AF_INET6 } from './rtnetlink.js';

/** Requests that the kernel has not answered in this long have gone wrong (the kernel answers in microseconds). */
export const REQUEST_TIMEOUT_MS = 5000;

let shared: RtSocket | undefined;

export function rtnetlink(): RtSocket {
  if (!shared) {
    try {
      shared = new RtSocket();
    } catch (cause) {
      throw new KqError('KQ_ERR_NETLINK', `cannot open a netlink socket: ${(cause as Error).message}`, undefined, { cause });
    }
    shared.onError(() => {
      // A broken socket is replaced on the next request.
      shared?.close();
      shared = undefined;
    });
  }
  return shared;
}

let tail: Promise<unknown> = Promise.resolve();

/**
 * Runs one request on the shared socket at a time. The kernel refuses a dump
 * on a socket while another dump is in progress there (EBUSY), and a master
 * announcing several VIPs asks for the interface several times at once.
 */
export function rtRequest<T>(fn: (socket: RtSocket) => Promise<T>): Promise<T> {
  const run = tail.then(() => fn(rtnetlink()));
  tail = run.catch(() => undefined);
  return run;
}

/** The errno name of a netlink failure ("EEXIST"), or undefined. */
export function netlinkErrno(error: unknown): string | undefined {
  return error instanceof RtnetlinkError ? error.code : undefined;
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
