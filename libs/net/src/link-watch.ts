/**
 * Interface up/down watch over rtnetlink (RTNLGRP_LINK): the agent goes FAULT
 * when its interface goes down or loses carrier and back to election when it
 * returns. The current state of every watched interface is read (and
 * emitted) once at start, after subscribing, so no change falls between the
 * read and the subscription. Optionally reports addresses removed from a
 * watched interface (someone deleting our VIP behind our back).
 */
import * as netlink from 'netlink';
import type { IpFamily } from '../../vrrp/src/types.js';
import { KqError } from '../../common/src/errors.js';
import { toInterfaceAddress, type InterfaceAddress } from './interfaces.js';
import { netlinkErrno, netlinkError, requestOptions, type LinkMessage } from './netlink.js';

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

const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_DELADDR = 21;

function sameState(a: LinkState | undefined, b: LinkState): boolean {
  return a !== undefined && a.present === b.present && a.up === b.up && a.running === b.running && a.index === b.index;
}

function stateOf(name: string, link: LinkMessage | undefined, deleted = false): LinkState {
  if (!link || deleted) return { name, index: 0, present: false, up: false, running: false };
  const flags = link.data.flags ?? {};
  return { name, index: link.data.index ?? 0, present: true, up: flags.up === true, running: flags.running === true };
}

class Watcher implements LinkWatch {
  private readonly states = new Map<string, LinkState>();
  private readonly watched: Set<string>;
  private closed = false;
  private resyncing = false;

  constructor(
    private readonly socket: ReturnType<typeof netlink.createRtNetlink>,
    private readonly options: LinkWatchOptions,
  ) {
    this.watched = new Set(options.interfaces);
    socket.socket.on('message', (messages) => this.handle(messages));
    socket.socket.on('error', (error) => {
      // ENOBUFS: the kernel dropped notifications for us; the only fix is to read the state again.
      if (error.code === 'ENOBUFS') void this.resync();
      else this.report(new KqError('KQ_ERR_NETLINK', `link watch: ${error.message}`, undefined, { cause: error }));
    });
  }

  state(name: string): LinkState | undefined {
    return this.states.get(name);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.socket.close();
  }

  async resync(): Promise<void> {
    if (this.resyncing || this.closed) return;
    this.resyncing = true;
    try {
      for (const name of this.watched) {
        let link: LinkMessage | undefined;
        try {
          // On the watch socket itself: its replies and notifications arrive in kernel order,
          // so a reply can never overwrite the news of a later change.
          [link] = (await this.socket.getLink({}, { ifname: name }, requestOptions)).filter((l) => l.attrs.ifname === name);
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

  private handle(messages: Array<{ type: number; data: Buffer }>): void {
    if (this.closed) return;
    for (const message of messages) {
      try {
        if (message.type === RTM_NEWLINK || message.type === RTM_DELLINK) {
          const link = netlink.rt.parseMessage(message.type, message.data) as LinkMessage;
          const name = link.attrs.ifname;
          if (name === undefined || !this.watched.has(name)) continue;
          this.update(stateOf(name, link, message.type === RTM_DELLINK));
        } else if (message.type === RTM_DELADDR && this.options.onAddressRemoved) {
          const parsed = netlink.rt.parseMessage(message.type, message.data) as netlink.rt.AddressMessage;
          const index = parsed.data.index;
          const owner = [...this.states.values()].find((s) => s.present && s.index === index);
          if (!owner) continue;
          const address: InterfaceAddress | undefined = toInterfaceAddress(parsed);
          if (!address) continue;
          this.options.onAddressRemoved({ interface: owner.name, index: owner.index, family: address.family, address: address.address, prefixLength: address.prefixLength });
        }
      } catch (cause) {
        this.report(new KqError('KQ_ERR_NETLINK', `link watch: unreadable notification: ${(cause as Error).message}`, undefined, { cause }));
      }
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
  let socket: ReturnType<typeof netlink.createRtNetlink>;
  try {
    // A roomy receive buffer: a burst of notifications (many interfaces flapping) must not overflow it.
    socket = netlink.createRtNetlink({ ref: true, recvBufferSize: 1 << 20, sendBufferSize: 1 << 16 });
    socket.addMembership('LINK');
    if (options.onAddressRemoved) {
      socket.addMembership('IPV4_IFADDR');
      socket.addMembership('IPV6_IFADDR');
    }
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
