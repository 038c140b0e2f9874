import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextTxId } from '../../src/engine/tx-id.js';

test('transaction ids: 8 hex digits, a new one each time', () => {
  const ids = Array.from({ length: 1000 }, () => nextTxId());
  for (const id of ids) assert.match(id, /^[0-9a-f]{8}$/);
  assert.equal(new Set(ids).size, ids.length);
});
