export * from './errors.js';
export * from './log.js';
export * from './clock.js';
