import type { GuestRef } from '../pve/types.js';

/** The computed plan: what `pvepower plan` prints, `drill` walks and the executor runs. */
export type GuestAction = 'shutdown' | 'hibernate' | 'stop' | 'skip';
export type Escalation = 'stop' | 'leave';

export interface PlannedGuest extends GuestRef {
  name: string;
  action: GuestAction;
  /** How long the graceful action may take before escalation. */
  timeoutMs: number;
  escalation: Escalation;
  restartOnPowerReturn: boolean;
  /** HA-managed (hastate present): stopped through HA, state recorded and restored. */
  ha: boolean;
  /** Which rule matched: `guests[2]` (config index), or `startup-order` when none did. */
  rule: string;
}

export interface PlanGroup {
  /** Ascending: group 1 stops before group 2. */
  group: number;
  guests: PlannedGuest[];
  /** The group's slowest guest: its timeout plus escalation allowance. */
  estimatedMs: number;
  /** For display, when the number is not the admin's: `startup order 2`, `no startup order`, `pvepower's own guest`. */
  label?: string;
}

export interface PlanStage {
  name: string;
  /** True for the stage that ends in host shutdown (`shutdown`). */
  final: boolean;
  groups: PlanGroup[];
  estimatedMs: number;
  /** The stage's trigger, for display. */
  trigger?: TriggerSpec;
}

export interface HostStep {
  node: string;
  self: boolean;
  cephMon: boolean;
}

export interface Plan {
  /** Stages in config order. */
  stages: PlanStage[];
  /** Other nodes in shutdown order, then self last. */
  hosts: HostStep[];
  self: string;
  /** Estimated battery runtime when the plan was made (ms), if known. */
  runtimeMs?: number;
  warnings: string[];
}

/**
 * A stage trigger after config parsing (durations in ms). Each key present is one condition;
 * several keys in one object must all hold. `any`/`all` nest.
 */
export interface TriggerSpec {
  on_battery_for?: number;
  charge_below?: number;
  runtime_below?: number;
  low_battery?: boolean;
  fsd?: boolean;
  /** Communication lost while last seen on battery, for DEADTIME (NUT's "dead" UPS). */
  comm_lost_on_battery?: boolean;
  /** Fires only on `pvepower trigger STAGE`. */
  manual?: boolean;
  any?: TriggerSpec[];
  all?: TriggerSpec[];
}
