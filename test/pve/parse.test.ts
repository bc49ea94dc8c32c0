import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PveError } from '../../src/pve/errors.js';
import {
  parseAgent,
  parsePropertyString,
  parseStartup,
  parseUpid,
  pveBool,
  splitTags,
  taskSucceeded,
} from '../../src/pve/parse.js';

test('tags split on ; , and spaces', () => {
  assert.deepEqual(splitTags('prod;db'), ['prod', 'db']);
  assert.deepEqual(splitTags('web, edge ups-last'), ['web', 'edge', 'ups-last']);
  assert.deepEqual(splitTags(';;a;'), ['a']);
  assert.deepEqual(splitTags(''), []);
  assert.deepEqual(splitTags(undefined), []);
});

test('PVE booleans', () => {
  for (const v of [1, '1', true, 'yes', 'on', 'true', 'ON']) assert.equal(pveBool(v), true, String(v));
  for (const v of [0, '0', false, 'no', 'off', '', undefined, null, {}]) assert.equal(pveBool(v), false, String(v));
});

test('property strings with a default key', () => {
  assert.deepEqual(parsePropertyString('2,down=60', 'order'), { order: '2', down: '60' });
  assert.deepEqual(parsePropertyString(' a=1 , b = 2 ,'), { a: '1', b: '2' });
  assert.deepEqual(parsePropertyString('loose'), {});
});

test('startup order: [order=]N, up=N, down=N', () => {
  assert.deepEqual(parseStartup('order=1,up=30,down=60'), { order: 1, up: 30, down: 60 });
  assert.deepEqual(parseStartup('2,down=10'), { order: 2, down: 10 });
  assert.deepEqual(parseStartup('up=5'), { up: 5 });
  assert.deepEqual(parseStartup('down=0'), { down: 0 });
  assert.equal(parseStartup(''), undefined);
  assert.equal(parseStartup(undefined), undefined);
  assert.equal(parseStartup('order=x'), undefined);
});

test('qemu agent: [enabled=]0|1 with options, disabled by default', () => {
  assert.equal(parseAgent('1'), true);
  assert.equal(parseAgent('enabled=1,fstrim_cloned_disks=1'), true);
  assert.equal(parseAgent('1,type=virtio'), true);
  assert.equal(parseAgent('0'), false);
  assert.equal(parseAgent('type=virtio'), false);
  assert.equal(parseAgent('enabled=0,type=isa'), false);
  assert.equal(parseAgent(1), true);
  assert.equal(parseAgent(undefined), false);
});

test('UPIDs: fields in hex, 9-digit pstart, empty id, trailing colon required', () => {
  const u = parseUpid('UPID:pve-2:0000ABCD:1A2B3C4D5:6B055E5B:qmshutdown:100:pvepower@pve!ups:');
  assert.deepEqual(u, {
    upid: 'UPID:pve-2:0000ABCD:1A2B3C4D5:6B055E5B:qmshutdown:100:pvepower@pve!ups:',
    node: 'pve-2',
    pid: 0xabcd,
    pstart: 0x1a2b3c4d5,
    starttime: 0x6b055e5b,
    type: 'qmshutdown',
    id: '100',
    user: 'pvepower@pve!ups',
  });
  assert.equal(parseUpid('UPID:pve1:00001000:0002A000:6B055E5B:vzdump::root@pam:').id, '');
  for (const bad of ['UPID:pve1:00001000:0002A000:6B055E5B:qmstart:100:root@pam', 'pve1:qmstart', 'UPID:-bad:00001000:0002A000:6B055E5B:a:1:u:']) {
    assert.throws(() => parseUpid(bad), PveError, bad);
  }
});

test('task exit status: OK and WARNINGS succeed, anything else fails', () => {
  assert.equal(taskSucceeded('OK'), true);
  assert.equal(taskSucceeded('WARNINGS: 3'), true);
  assert.equal(taskSucceeded('VM quit/powerdown failed - got timeout'), false);
  assert.equal(taskSucceeded('unexpected status'), false);
  assert.equal(taskSucceeded(undefined), false);
});
