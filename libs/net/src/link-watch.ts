/**
 * Interface up/down watch over rtnetlink (RTNLGRP_LINK): the agent goes FAULT
 * when its interface goes down or loses carrier and back to election when it
 * returns. The current state of every watched interface is read (and
 * emitted) once at start, after subscribing, so no change falls between the
 * read and the subscription. Optionally reports addresses removed from a
 * watched interface (someone deleting our VIP behind our back).
 */
import type { IpFamily } from '../../vrrp/src/types.js';
import { KqError } from '../../common/src/errors.js';
import { toInterfaceAddress, type InterfaceAddress } from './interfaces.js';
import { netlinkErrno, netlinkError, REQUEST_TIMEOUT_MS } from './netlink.js';
import {
  getLinkRequest,
  IFF_RUNNING,
  IFF_UP,
  parseAddress,
  parseLink,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_NEWLINK,
  RTNLGRP_IPV4_IFADDR,
  RTNLGRP_IPV6_IFADDR,
  RTNLGRP_LINK,
  RtSocket,
  type LinkInfo,
  type NlMessage,
} from './rtnetlink.js';

export interface LinkState {
  name: string;
  /** 0 when the interface does not exist. */
  index: number;
  /** The interface exists. */
  present: boolean;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** Operationally up (IFF_RUNNING): up with carrier. What VRRP needs to run. */
  running: boolean;
}

export interface AddressRemovedEvent {
  interface: string;
  index: number;
  family: IpFamily;
  address: string;
  prefixLength: number;
}

export interface LinkWatchOptions {
  /** Interface names to watch. */
  interfaces: string[];
  /** Called with the state of each watched interface at start, then on every change of present/up/running. */
  onLink: (state: LinkState) => void;
  /** Called when an address leaves a watched interface, whoever removed it. */
  onAddressRemoved?: (event: AddressRemovedEvent) => void;
  onError?: (error: KqError) => void;
}

export interface LinkWatch {
  /** The last state seen of a watched interface. */
  state(name: string): LinkState | undefined;
  close(): void;
}


function sameState(a: LinkState | undefined, b: LinkState): boolean {
  return a !== undefined && a.present === b.present && a.up === b.up && a.running === b.running && a.index === b.index;
}

function stateOf(name: string, link: LinkInfo | undefined, deleted = false): LinkState {
  if (!link || deleted) return { name, index: 0, present: false, up: false, running: false };
  return { name, index: link.index, present: true, up: (link.flags & IFF_UP) !== 0, running: (link.flags & IFF_RUNNING) !== 0 };
}

class Watcher implements LinkWatch {
  private readonly states = new Map<string, LinkState>();
  private readonly watched: Set<string>;
  private closed = false;
  private resyncing = false;

  constructor(
    private readonly socket: RtSocket,
    private readonly options: LinkWatchOptions,
  ) {
    this.watched = new Set(options.interfaces);
    socket.onNotification((message) => this.handle(message));
    socket.onError((error) => {
      // ENOBUFS: the kernel dropped notifications for us; the only fix is to read the state again.
      if ((error as NodeJS.ErrnoException).code === 'ENOBUFS') void this.resync();
      else this.report(new KqError('KQ_ERR_NETLINK', `link watch: ${error.message}`, undefined, { cause: error }));
    });
  }

  state(name: string): LinkState | undefined {
    return this.states.get(name);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }

  async resync(): Promise<void> {
    if (this.resyncing || this.closed) return;
    this.resyncing = true;
    try {
      for (const name of this.watched) {
        let link: LinkInfo | undefined;
        try {
          // On the watch socket itself: its replies and notifications arrive in kernel order,
          // so a reply can never overwrite the news of a later change.
          const replies = await this.socket.request((seq) => getLinkRequest(seq, name), REQUEST_TIMEOUT_MS);
          link = replies.map((m) => parseLink(m.payload)).find((l) => l?.name === name);
        } catch (cause) {
          if (netlinkErrno(cause) !== 'ENODEV') throw netlinkError(`reading interface ${name}`, cause);
        }
        if (this.closed) return;
        this.update(stateOf(name, link));
      }
    } finally {
      this.resyncing = false;
    }
  }

  private handle(message: NlMessage): void {
    if (this.closed) return;
    try {
      if (message.type === RTM_NEWLINK || message.type === RTM_DELLINK) {
        const link = parseLink(message.payload);
        const name = link?.name;
        if (!link || name === undefined || !this.watched.has(name)) return;
        this.update(stateOf(name, link, message.type === RTM_DELLINK));
      } else if (message.type === RTM_DELADDR && this.options.onAddressRemoved) {
        const parsed = parseAddress(message.payload);
        if (!parsed) return;
        const owner = [...this.states.values()].find((s) => s.present && s.index === parsed.index);
        if (!owner) return;
        const address: InterfaceAddress | undefined = toInterfaceAddress(parsed);
        if (!address) return;
        this.options.onAddressRemoved({ interface: owner.name, index: owner.index, family: address.family, address: address.address, prefixLength: address.prefixLength });
      }
    } catch (cause) {
      this.report(new KqError('KQ_ERR_NETLINK', `link watch: unreadable notification: ${(cause as Error).message}`, undefined, { cause }));
    }
  }

  private update(state: LinkState): void {
    if (sameState(this.states.get(state.name), state)) return;
    this.states.set(state.name, state);
    try {
      this.options.onLink(state);
    } catch (cause) {
      this.report(new KqError('KQ_ERR_NETLINK', `link watch: the handler threw: ${(cause as Error).message}`, undefined, { cause }));
    }
  }

  private report(error: KqError): void {
    try {
      this.options.onError?.(error);
    } catch {
      // an error handler that throws must not stop the watch
    }
  }
}

/**
 * Starts watching. Resolves once the initial state of every watched interface
 * has been read and passed to `onLink` (a missing interface is reported as
 * `present: false`). The watch keeps the process alive until `close()`.
 */
export async function watchLinks(options: LinkWatchOptions): Promise<LinkWatch> {
  let socket: RtSocket;
  try {
    // A roomy receive buffer: a burst of notifications (many interfaces flapping) must not overflow it.
    const groups = options.onAddressRemoved ? [RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR] : [RTNLGRP_LINK];
    socket = new RtSocket({ ref: true, recvBufferSize: 1 << 20, groups });
  } catch (cause) {
    throw new KqError('KQ_ERR_NETLINK', `cannot subscribe to link notifications: ${(cause as Error).message}`, undefined, { cause });
  }
  const watcher = new Watcher(socket, options);
  try {
    await watcher.resync();
  } catch (error) {
    watcher.close();
    throw error;
  }
  return watcher;
}
