import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventSubject, filterSubject, parseSubject, STREAM_SUBJECTS, tokenProblem } from '../src/mod.js';

test('an event subject is ha.<cluster>.evt.<node>.<type> and parses back', () => {
  const s = eventSubject('prod-eu', 'lb_1', 'vrrp.transition');
  assert.equal(s, 'ha.prod-eu.evt.lb_1.vrrp.transition');
  assert.deepEqual(parseSubject(s), { cluster: 'prod-eu', node: 'lb_1', type: 'vrrp.transition' });
  assert.equal(parseSubject('ha.prod.kv.lb1.x.y'), null);
  assert.equal(parseSubject('ha.prod.evt.lb1'), null);
});

test('the stream subject ha.*.evt.> covers every event subject', () => {
  assert.deepEqual([...STREAM_SUBJECTS], ['ha.*.evt.>']);
  const [pattern] = STREAM_SUBJECTS;
  const re = new RegExp(`^${pattern.replace(/\./g, '\\.').replace('*', '[^.]+').replace('>', '.+')}$`);
  assert.match(eventSubject('c', 'n', 'agent.started'), re);
});

test('cluster and node names that cannot be one subject token are refused with the reason', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['a.b', /dot/],
    ['a b', /whitespace/],
    ['a\tb', /whitespace/],
    ['lb*', /wildcard/],
    ['>', /wildcard/],
    ['x'.repeat(65), /at most 64/],
    ['lb/1', /letters, digits/],
  ];
  for (const [name, reason] of cases) {
    assert.match(tokenProblem(name) ?? 'accepted', reason, JSON.stringify(name));
    assert.throws(
      () => eventSubject('prod', name, 'agent.started'),
      (e: Error & { code?: string }) => e.code === 'KQ_ERR_EVENT_NAME' && e.message.includes('node name') && reason.test(e.message),
    );
  }
  assert.throws(() => eventSubject('a.b', 'n', 'agent.started'), /cluster name/);
  assert.throws(() => eventSubject('c', 'n', 'Agent'), (e: Error & { code?: string }) => e.code === 'KQ_ERR_EVENT_NAME');
});

test('the filter subject is as tight as the filters allow', () => {
  assert.equal(filterSubject(), 'ha.*.evt.*.>');
  assert.equal(filterSubject({ cluster: 'prod' }), 'ha.prod.evt.*.>');
  assert.equal(filterSubject({ cluster: 'prod', node: 'lb1' }), 'ha.prod.evt.lb1.>');
  assert.equal(filterSubject({ node: 'lb1', type: 'vrrp.transition' }), 'ha.*.evt.lb1.vrrp.transition');
  assert.equal(filterSubject({ type: 'vrrp.>' }), 'ha.*.evt.*.vrrp.>');
  assert.throws(() => filterSubject({ type: 'vrrp' }), /neither an event type/);
  assert.throws(() => filterSubject({ node: 'a.b' }), /dot/);
});
