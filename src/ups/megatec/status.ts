import type { Q1Reading } from './parse.js';

/** What the Q1 status bits mean in NUT terms (blazer_process_status_bits, nut.md §2). */
export interface DerivedStatus {
  /** NUT `ups.status`, e.g. `OL`, `OB LB`, `ALARM OL BYPASS`. */
  status: string;
  /** NUT `ups.alarm` while b4 (UPS failed) is set. */
  alarm?: string;
  /** NUT `ups.type`, from b3. */
  upsType: 'offline / line interactive' | 'online';
  /** NUT `ups.beeper.status`, from b0. */
  beeper: 'enabled' | 'disabled';
}

export interface StatusOptions {
  /** NUT `ignoresab`: skip the Shutdown Active bit (b1), for units that keep it stuck at 1. */
  ignoresab?: boolean;
}

export const UPS_FAILED_ALARM = 'UPS selftest failed!';

export type RegulationToken = 'TRIM' | 'BYPASS' | 'BOOST';

/**
 * What b5 (bypass/boost/buck active) means, told apart by the output/input voltage ratio.
 * NUT fails the whole poll when the ratio fits no band (e.g. input 0 V on battery); here b5 just
 * adds no token, so an on-battery report is never lost to it.
 */
export function regulationToken(vi: number | undefined, vo: number | undefined): RegulationToken | undefined {
  if (vi === undefined || vo === undefined) return undefined;
  if (vo < 0.5 * vi) return undefined;
  if (vo < 0.95 * vi) return 'TRIM';
  if (vo < 1.05 * vi) return 'BYPASS';
  if (vo < 1.5 * vi) return 'BOOST';
  return undefined;
}

/**
 * Tokens in NUT's order: OL|OB, LB, TRIM|BOOST|BYPASS (b5 gives at most one), CAL, FSD; `ALARM`
 * first when b4 is set, as NUT's status_commit prefixes it.
 */
export function deriveStatus(reading: Q1Reading, options: StatusOptions = {}): DerivedStatus {
  const { bits } = reading;
  const regulation = bits.bypassBoostOrBuck ? regulationToken(reading.inputVoltage, reading.outputVoltage) : undefined;
  const tokens: string[] = [];
  if (bits.upsFailed) tokens.push('ALARM');
  tokens.push(bits.utilityFail ? 'OB' : 'OL');
  if (bits.batteryLow) tokens.push('LB');
  if (regulation) tokens.push(regulation);
  if (bits.testInProgress) tokens.push('CAL');
  if (bits.shutdownActive && !options.ignoresab) tokens.push('FSD');
  return {
    status: tokens.join(' '),
    ...(bits.upsFailed ? { alarm: UPS_FAILED_ALARM } : {}),
    upsType: bits.lineInteractive ? 'offline / line interactive' : 'online',
    beeper: bits.beeperOn ? 'enabled' : 'disabled',
  };
}
