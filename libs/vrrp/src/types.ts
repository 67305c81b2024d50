/** The wire-level and timing vocabulary shared by the codec and the state machine. */

export type IpFamily = 4 | 6;
export type VrrpVersion = 2 | 3;

/** VRRPv2 authentication types (RFC 3768 §5.3.6; RFC 2338 for the historic ones). */
export const AuthType = { None: 0, SimpleText: 1, IpAh: 2 } as const;
export type AuthTypeValue = (typeof AuthType)[keyof typeof AuthType];

/** A decoded (or to-be-encoded) VRRP advertisement, family- and version-neutral. */
export interface Advertisement {
  version: VrrpVersion;
  family: IpFamily;
  vrid: number; // 1..255
  priority: number; // 0..255; 0 = master is giving up, 255 = address owner
  /**
   * The advertisement interval in centiseconds. VRRPv3 carries centiseconds
   * (12 bits); VRRPv2 carries whole seconds (8 bits), which the codec converts
   * (1 s -> 100 cs) so every caller works in one unit.
   */
  advertIntervalCs: number;
  /** The virtual addresses, textual (IPv4 dotted quad or RFC 5952 IPv6). */
  addresses: string[];
  /** VRRPv2 only: 0 none, 1 simple text password. */
  authType: number;
  /** VRRPv2 simple text password as carried (up to 8 bytes, NUL padded on the wire). */
  authPassword: string;
}

/** How the VRRPv3 checksum over IPv4 is computed (RFC 5798 §5.2.8 includes the pseudo-header). */
export type V3ChecksumMode = 'pseudo-header' | 'no-pseudo-header';

/** Why a packet was refused. Stable strings: counted, logged and published. */
export type RejectReason =
  | 'truncated' // shorter than the fixed header, or than the address list it announces
  | 'ttl' // IPv4 TTL or IPv6 hop limit not 255
  | 'version' // not 2 or 3, or not the version the instance runs
  | 'type' // not ADVERTISEMENT (1)
  | 'checksum'
  | 'length' // trailing bytes or a length that does not match the address count
  | 'vrid' // no instance with this VRID on this interface
  | 'address_count' // count differs from the instance's
  | 'address_list' // the addresses differ from the instance's
  | 'auth' // auth type or password mismatch (v2)
  | 'interval' // v2 interval differs from the configured one; v3 interval 0
  | 'own_packet' // our own advertisement looped back
  | 'destination' // sent where the instance does not listen: multicast to a unicast instance, or another group
  | 'family'; // IPv4 packet on an IPv6 instance or the reverse

export type DecodeResult =
  | { ok: true; advert: Advertisement }
  | { ok: false; reason: RejectReason; detail: string };

/** What the receive path knows about a packet besides its payload. */
export interface PacketMeta {
  family: IpFamily;
  source: string; // sender's address (the primary address for the tie-break)
  destination: string; // multicast group or our unicast address
  ttl: number; // IPv4 TTL or IPv6 hop limit as received
}
