/**
 * The golden table (golden/cases.ts): every case is decided once, and the
 * decision, the reason and the actions are compared with what the table says.
 * The view must come out untouched: decide() reads, it never writes.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../src/decide.js';
import { CASES } from './golden/cases.js';
import { mismatch } from './golden/world.js';

describe('golden table: view + request + now -> decision, reason, actions', () => {
  test('the table is large enough to cover every rule', () => {
    assert.ok(CASES.length >= 40, `only ${CASES.length} cases`);
    const names = new Set(CASES.map((c) => c.name));
    assert.equal(names.size, CASES.length, 'case names must be unique');
  });

  for (const c of CASES) {
    test(c.name, () => {
      const before = JSON.stringify(c.view);
      const d = decide(c.view, c.request, c.now);
      const shown = JSON.stringify(d, null, 2);
      assert.equal(d.decision, c.decision, `decision; got ${shown}`);
      if (typeof c.reason === 'string') assert.equal(d.reason, c.reason);
      else assert.match(d.reason, c.reason);
      const diff = mismatch(d.actions, c.actions, 'actions');
      assert.equal(diff, null, `${diff}\n${shown}`);
      assert.equal(JSON.stringify(c.view), before, 'decide() changed its view');
    });
  }
});
