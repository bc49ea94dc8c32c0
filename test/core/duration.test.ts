import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration } from '../../src/core/duration.js';
import { redact, registerSecret } from '../../src/core/secrets.js';

test('parseDuration reads the units admins write', () => {
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('0'), 0);
});

test('parseDuration rejects bare numbers and unknown units with the bad text', () => {
  assert.throws(() => parseDuration('30'), /invalid duration '30'/);
  assert.throws(() => parseDuration('5 minutes'), /invalid duration/);
  assert.throws(() => parseDuration(''), /empty/);
});

test('formatDuration is compact and round-trips', () => {
  assert.equal(formatDuration(90_000), '1m30s');
  assert.equal(formatDuration(1500), '1.5s');
  assert.equal(formatDuration(250), '250ms');
  assert.equal(parseDuration(formatDuration(5_400_000)), 5_400_000);
});

test('redact hides registered secrets wherever they appear', () => {
  registerSecret('0b5b2d4e-1111-2222-3333-444455556666');
  assert.equal(redact('token=0b5b2d4e-1111-2222-3333-444455556666;x'), 'token=***;x');
});
