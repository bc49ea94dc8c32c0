import { silentLogger, type Logger } from '../core/logger.js';

/** Battery settings from the config; each one overrides what the UPS says or the default. */
export interface BatteryConfig {
  /** battery.voltage.nominal (V). Overrides the F reply. */
  nominal?: number;
  /** Voltage of a full battery, charge 100 %. Default nominal × 1.15. */
  high?: number;
  /** Voltage of an empty battery, charge 0 %. Default nominal × 0.85. */
  low?: number;
  /** Number of cells for a UPS that reports volts per cell. Autodetected when absent. */
  packs?: number;
}

/** The seed guide's rule for a lead-acid battery without configured limits: nominal ± 15 %. */
export const DEFAULT_VOLTAGE_BAND = 0.15;

/** A reported voltage below this share of the nominal is volts per cell (e.g. 2.27 V of 36 V). */
export const PER_CELL_THRESHOLD = 0.5;

// NUT's battery.packs autodetection candidates and acceptance band (nutdrv_qx qx_initbattery).
const PACK_CANDIDATES = [120, 100, 80, 60, 48, 36, 30, 24, 18, 12, 8, 6, 4, 3, 2, 1, 0.5];
const PACKS_MAX_RATIO = 1.25;
const PACKS_MIN_RATIO = 0.8;

export interface BatteryThresholds {
  nominal?: number;
  high?: number;
  low?: number;
}

export interface BatteryReading {
  /** battery.voltage: the whole battery, per-cell reports multiplied by the packs. */
  voltage: number;
  /** battery.packs, when the UPS reports volts per cell. */
  packs?: number;
  /** (voltage − low) / (high − low), not clamped. Absent without thresholds. */
  level?: number;
  /** battery.charge: the level as a percentage clamped to 0..100. */
  charge?: number;
}

type Layout = { kind: 'undecided' } | { kind: 'total' } | { kind: 'per-cell'; packs: number };

/**
 * NUT's autodetection: the largest candidate whose total stays within 1.25 × nominal, accepted
 * only if that total still reaches 0.8 × nominal (2.27 V of 36 V → 18; 2.26 V of 24 V → 12).
 */
export function detectPacks(cellVoltage: number, nominal: number): number | undefined {
  for (const packs of PACK_CANDIDATES) {
    if (packs * cellVoltage > PACKS_MAX_RATIO * nominal) continue;
    return packs * cellVoltage < PACKS_MIN_RATIO * nominal ? undefined : packs;
  }
  return undefined;
}

/** Turns the battery voltage of each Q1 reply into battery.voltage and battery.charge. */
export class BatteryModel {
  private ratedNominal: number | undefined;
  private layout: Layout = { kind: 'undecided' };
  private warnedUndetectable = false;
  private readonly logger: Logger;

  constructor(
    private readonly config: BatteryConfig = {},
    logger?: Logger,
  ) {
    for (const key of ['nominal', 'high', 'low', 'packs'] as const) {
      const value = config[key];
      if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
        throw new RangeError(`battery ${key} must be a number > 0, got ${value}`);
      }
    }
    if (config.high !== undefined && config.low !== undefined && config.high <= config.low) {
      throw new RangeError(`battery high (${config.high} V) must be above low (${config.low} V)`);
    }
    this.logger = logger ?? silentLogger();
  }

  /** The nominal from the UPS's F reply; the configured one wins. */
  setRatedNominal(volts: number | undefined): void {
    this.ratedNominal = volts !== undefined && volts > 0 ? volts : undefined;
  }

  get thresholds(): BatteryThresholds {
    const nominal = this.config.nominal ?? this.ratedNominal;
    const band = (sign: 1 | -1) => (nominal === undefined ? undefined : nominal * (1 + sign * DEFAULT_VOLTAGE_BAND));
    return { nominal, high: this.config.high ?? band(1), low: this.config.low ?? band(-1) };
  }

  read(reportedVolts: number): BatteryReading {
    const { nominal, high, low } = this.thresholds;
    const layout = this.decideLayout(reportedVolts, nominal);
    const voltage = layout.kind === 'per-cell' ? reportedVolts * layout.packs : reportedVolts;
    const reading: BatteryReading = { voltage };
    if (layout.kind === 'per-cell') reading.packs = layout.packs;
    if (high !== undefined && low !== undefined && high > low) {
      reading.level = (voltage - low) / (high - low);
      reading.charge = Math.min(100, Math.max(0, 100 * reading.level));
    }
    return reading;
  }

  /**
   * Decided once, at the first usable reading, so a deeply discharged per-cell battery is never
   * re-detected with a wrong pack count and a failing total-voltage battery never turns per-cell.
   */
  private decideLayout(reportedVolts: number, nominal: number | undefined): Layout {
    if (this.layout.kind !== 'undecided' || nominal === undefined || !(reportedVolts > 0)) return this.layout;
    if (reportedVolts >= PER_CELL_THRESHOLD * nominal) {
      this.layout = { kind: 'total' };
      return this.layout;
    }
    const packs = this.config.packs ?? detectPacks(reportedVolts, nominal);
    if (packs === undefined) {
      if (this.warnedUndetectable) return this.layout;
      this.warnedUndetectable = true;
      this.logger.warn(
        `battery reports ${reportedVolts} V against a nominal ${nominal} V and the number of packs cannot be ` +
          'detected: set battery packs in the config',
      );
      return this.layout;
    }
    this.logger.info(`battery reports volts per cell (${reportedVolts} V, nominal ${nominal} V): × ${packs} packs`);
    this.layout = { kind: 'per-cell', packs };
    return this.layout;
  }
}
