import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Guest } from '../../src/pve/types.js';
import { compileMatch, globToRegExp } from '../../src/policy/match.js';

function guest(over: Partial<Guest> = {}): Guest {
  return { node: 'pve1', type: 'qemu', vmid: 100, name: 'web01', status: 'running', tags: [], template: false, ...over };
}

test('an empty match takes every guest', () => {
  assert.equal(compileMatch({})(guest()), true);
  assert.equal(compileMatch({})(guest({ type: 'lxc', vmid: 999, name: '' })), true);
});

test('each key matches its field; a list means any of', () => {
  assert.equal(compileMatch({ vmid: [100, 110] })(guest({ vmid: 110 })), true);
  assert.equal(compileMatch({ vmid: [100, 110] })(guest({ vmid: 111 })), false);
  assert.equal(compileMatch({ pool: ['infra'] })(guest({ pool: 'infra' })), true);
  assert.equal(compileMatch({ pool: ['infra'] })(guest({ pool: 'apps' })), false);
  assert.equal(compileMatch({ pool: ['infra'] })(guest()), false, 'a guest in no pool');
  assert.equal(compileMatch({ node: ['pve2', 'pve3'] })(guest({ node: 'pve3' })), true);
  assert.equal(compileMatch({ node: ['pve2', 'pve3'] })(guest({ node: 'pve1' })), false);
  assert.equal(compileMatch({ type: ['lxc'] })(guest({ type: 'lxc' })), true);
  assert.equal(compileMatch({ type: ['lxc'] })(guest({ type: 'qemu' })), false);
  assert.equal(compileMatch({ tags: ['a', 'b'] })(guest({ tags: ['x', 'b'] })), true);
  assert.equal(compileMatch({ tags: ['a', 'b'] })(guest({ tags: ['x'] })), false);
});

test('several keys must all match', () => {
  const m = compileMatch({ tags: ['critical'], node: ['pve1'], type: ['qemu'] });
  assert.equal(m(guest({ tags: ['critical'] })), true);
  assert.equal(m(guest({ tags: ['critical'], node: 'pve2' })), false);
  assert.equal(m(guest({ tags: ['critical'], type: 'lxc' })), false);
  assert.equal(m(guest({ node: 'pve1' })), false);
});

test('tags compare case-insensitively, both ways', () => {
  assert.equal(compileMatch({ tags: ['UPS-Shed'] })(guest({ tags: ['ups-shed'] })), true);
  assert.equal(compileMatch({ tags: ['ups-shed'] })(guest({ tags: ['UPS-SHED'] })), true);
  assert.equal(compileMatch({ tags: ['ups-shed'] })(guest({ tags: ['ups-shedder'] })), false);
});

test('name globs: * any run, ? one character, the rest literal and case-sensitive', () => {
  const m = (glob: string, name: string) => compileMatch({ name: [glob] })(guest({ name }));
  assert.equal(m('nas', 'nas'), true);
  assert.equal(m('nas', 'nas01'), false, 'a glob matches the whole name');
  assert.equal(m('nas*', 'nas01'), true);
  assert.equal(m('nas*', 'nas'), true);
  assert.equal(m('*-db', 'prod-db'), true);
  assert.equal(m('web??', 'web01'), true);
  assert.equal(m('web??', 'web1'), false);
  assert.equal(m('a.b', 'axb'), false, 'a dot is literal');
  assert.equal(m('[x]+', '[x]+'), true, 'regexp characters are literal');
  assert.equal(m('Web*', 'web01'), false);
  assert.equal(compileMatch({ name: ['db-*', 'nas'] })(guest({ name: 'nas' })), true);
  assert.deepEqual(globToRegExp('a*b?c'), /^a.*b.c$/s);
});
