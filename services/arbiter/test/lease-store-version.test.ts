/** The NATS server versions whose replicated compare-and-set is not safe (nats-server#4320, fixed in 2.9.21). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { versionBelow } from '../src/lease-store.js';

test('versionBelow: 2.9.10 and 2.9.20 are below 2.9.21; 2.9.21, 2.10.0 and an unparsable version are not', () => {
  assert.equal(versionBelow('2.9.10', [2, 9, 21]), true);
  assert.equal(versionBelow('v2.9.20', [2, 9, 21]), true);
  assert.equal(versionBelow('2.9.21', [2, 9, 21]), false);
  assert.equal(versionBelow('2.10.0-beta.1', [2, 9, 21]), false);
  assert.equal(versionBelow('dev', [2, 9, 21]), false);
});
