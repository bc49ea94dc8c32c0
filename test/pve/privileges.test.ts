import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HIBERNATE_PRIVILEGES, REQUIRED_PRIVILEGES, setupCommands } from '../../src/pve/privileges.js';

test('setup commands create the role, user and privilege-separated token with exactly the needed privileges', () => {
  assert.deepEqual(setupCommands(), [
    'pveum role add PVEPower --privs "VM.Audit,VM.PowerMgmt,Sys.Audit,Sys.PowerMgmt,Sys.Modify,Sys.Console,Pool.Audit"',
    'pveum user add pvepower@pve --comment "pvepower UPS shutdown"',
    'pveum acl modify / --users pvepower@pve --roles PVEPower',
    'pveum user token add pvepower@pve ups --privsep 1',
    "pveum acl modify / --tokens 'pvepower@pve!ups' --roles PVEPower",
  ]);
  const custom = setupCommands({ user: 'ups@pam', token: 'daemon', role: 'UPS', hibernate: true });
  assert.equal(custom[0], `pveum role add UPS --privs "${[...REQUIRED_PRIVILEGES, ...HIBERNATE_PRIVILEGES].join(',')}"`);
  assert.equal(custom[4], "pveum acl modify / --tokens 'ups@pam!daemon' --roles UPS");
});
