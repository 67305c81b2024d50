/** libs/arbiter: the arbiter's decision, pure. Leases, quorum, fencing, veto and forced failover; no I/O. */
export * from './types.js';
export * from './decide.js';
export * from './timing.js';
export * from './failsafe.js';
export * from './view.js';
