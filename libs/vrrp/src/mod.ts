/** libs/vrrp: the protocol, pure. Codec, timer arithmetic and the state machine; no I/O. */
export * from './types.js';
export * from './timers.js';
export * from './state-machine.js';
export * from './packet.js';
export * from './checksum.js';
export * from './address.js';
