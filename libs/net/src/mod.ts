/**
 * libs/net: the kernel, real. Raw protocol-112 sockets, VIPs through netlink,
 * gratuitous ARP / unsolicited NA, interface watch. It executes; it decides
 * nothing (ARCHITECTURE.md).
 */
export {
  AddressScope,
  formatMac,
  getInterface,
  parseMac,
  type AddressScopeName,
  type InterfaceAddress,
  type InterfaceInfo,
} from './interfaces.js';
export {
  openVrrpSocket,
  VRRP_MULTICAST_GROUP4,
  VRRP_MULTICAST_GROUP6,
  VRRP_PROTOCOL,
  VRRP_TTL,
  type VrrpPacketHandler,
  type VrrpPacketMeta,
  type VrrpSocket,
  type VrrpSocketCounters,
  type VrrpSocketOptions,
} from './vrrp-socket.js';
export { VRRP_TOS } from './vrrp-socket4.js';
export { addVip, addVipNow, hasAddress, listAddresses, removeVip, removeVipNow, type VipOptions, type VirtualAddress } from './vip.js';
export { watchLinks, type AddressRemovedEvent, type LinkState, type LinkWatch, type LinkWatchOptions } from './link-watch.js';
export {
  announceAddress,
  announceAddressNow,
  buildGratuitousArp,
  buildUnsolicitedNa,
  garpSchedule,
  icmpv6Checksum,
  ipv6Forwarding,
  KEEPALIVED_GARP_DEFAULTS,
  sendGratuitousArp,
  sendUnsolicitedNa,
  type GarpOptions,
  type GarpSchedule,
  type GarpSend,
} from './gratuitous.js';
