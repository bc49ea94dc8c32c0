import type { CephFlag, GuestType } from '../pve/types.js';
import type { EscalationKind, SentAction } from './journal.js';

export interface GuestInfo {
  vmid: number;
  name: string;
  node: string;
  type: GuestType;
}

/**
 * How one guest of a stage ended. `not-running`: it was already stopped, pvepower did nothing;
 * `left`: still running after its timeout with escalation `leave`; `unresolved`: could not be
 * stopped (API errors, lock, still running after escalation + grace); `aborted`: the stage was
 * aborted before the guest was confirmed stopped.
 */
export type GuestOutcome = 'stopped' | 'not-running' | 'skipped' | 'left' | 'unresolved' | 'aborted';

export interface GuestResult {
  guest: GuestInfo;
  outcome: GuestOutcome;
  error?: string;
}

export interface HostsResult {
  nodesSent: string[];
  nodesFailed: string[];
  nodesSkipped: string[];
  killpower: 'written' | 'failed' | 'disabled';
  hostShutdown: 'ran' | 'failed';
}

export interface StageResult {
  stage: string;
  final: boolean;
  /** Aborted before the point of no return (mains returned). */
  aborted: boolean;
  /** The journal shows this stage finished earlier in this outage; nothing was done. */
  skipped: boolean;
  guests: GuestResult[];
  /** Final stage only, when it got that far. */
  hosts?: HostsResult;
}

export type ResumeStatus =
  /** No open outage in the journal. */
  | 'no-outage'
  /** Interrupted stages were continued (see `stages`). */
  | 'resumed'
  /** An outage is open but no stage was running: wait for triggers or for power to return. */
  | 'idle'
  /** The host already went down for this outage (or recovery had begun): run recover() once power is stable. */
  | 'recovery-pending';

export interface ResumeResult {
  status: ResumeStatus;
  stages: StageResult[];
}

export interface RecoveryGuestResult {
  guest: GuestInfo;
  how: 'start' | 'ha-state' | 'none';
  outcome: 'started' | 'already-running' | 'left-stopped' | 'failed';
  error?: string;
}

export interface RecoveryResult {
  /** The journal had an open outage to recover from. */
  recovered: boolean;
  hostsWentDown: boolean;
  aborted: boolean;
  guests: RecoveryGuestResult[];
  cephUnset: CephFlag[];
  haArmed: boolean;
  /** Where the closed outage journal was archived. */
  archive?: string;
}

/** Progress events of the executor and recovery, for notifications, metrics and `watch`. */
export interface ExecutorEvents {
  'stage-start': [{ stage: string; final: boolean; resumed: boolean }];
  'stage-done': [StageResult];
  /** `label` names groups whose number is not the admin's (startup order, pvepower's own guest). */
  'group-start': [{ stage: string; group: number; label?: string; guests: number }];
  'group-done': [{ stage: string; group: number; label?: string; results: GuestResult[] }];
  'guest-action': [{ stage: string; group: number; guest: GuestInfo; action: SentAction; ha: boolean; upid: string }];
  'guest-skipped': [{ stage: string; guest: GuestInfo; reason: string }];
  'guest-stopped': [{ stage: string; guest: GuestInfo; afterMs: number }];
  'guest-escalated': [{ stage: string; guest: GuestInfo; how: EscalationKind | 'leave' }];
  'guest-failed': [{ stage: string; guest: GuestInfo; error: string }];
  'ha-disarm': [{ ok: boolean; error?: string }];
  'ceph-flags': [{ set: CephFlag[]; already: CephFlag[]; ok: boolean; error?: string }];
  'node-shutdown': [{ node: string; ok: boolean; error?: string; skipped?: string }];
  killpower: [{ ok: boolean; error?: string }];
  'host-shutdown': [{ ok: boolean; error?: string }];
  'recovery-start': [{ hostsWentDown: boolean }];
  'recovery-guest': [RecoveryGuestResult];
  'recovery-ceph': [{ flags: CephFlag[]; ok: boolean; error?: string }];
  'recovery-ha-arm': [{ ok: boolean; error?: string }];
  'recovery-done': [RecoveryResult];
  /** Something an admin should hear about that is not a failure (fallbacks, lost quorum, …). */
  warning: [{ message: string }];
}
