import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { PvepowerConfig } from '../policy/schema.js';
import type { LearnedRuntime } from '../ups/battery-runtime.js';
import { UpsDriver, type UpsDriverOptions } from '../ups/driver.js';
import { createTransport } from '../ups/transport/index.js';
import type { Transport } from '../ups/transport/transport.js';

type UpsConfig = PvepowerConfig['ups'];

/** The driver options a config's `ups:` section stands for. */
export function driverOptions(
  ups: UpsConfig,
  deps: { clock: Clock; logger: Logger; learnedRuntime?: LearnedRuntime },
): UpsDriverOptions {
  return {
    name: ups.name,
    port: ups.port,
    pollIntervalMs: ups.pollinterval,
    battery: {
      ...ups.battery.voltage,
      ...(ups.battery.packs !== undefined ? { packs: ups.battery.packs } : {}),
      ...(ups.battery.runtime_full_load !== undefined ? { runtimeFullLoadS: ups.battery.runtime_full_load / 1000 } : {}),
      ...(deps.learnedRuntime ? { learnedRuntime: deps.learnedRuntime } : {}),
    },
    offdelay: ups.delay.shutdown / 1000,
    ondelay: ups.delay.start / 1000,
    ignoresab: ups.ignoresab,
    clock: deps.clock,
    logger: deps.logger,
  };
}

/** The transport a config's `ups:` section names (USB for `auto` or ids, else the serial device). */
export function transportFor(ups: UpsConfig, deps: { clock: Clock; logger: Logger }): Transport {
  return createTransport(
    {
      port: ups.port,
      ...(ups.vendorid !== undefined ? { vendorId: ups.vendorid } : {}),
      ...(ups.productid !== undefined ? { productId: ups.productid } : {}),
      ...(ups.bus !== undefined ? { bus: ups.bus } : {}),
      ...(ups.serial !== undefined ? { serial: ups.serial } : {}),
      ...(ups.cablepower !== undefined ? { cablepower: ups.cablepower } : {}),
    },
    deps,
  );
}

/**
 * The UPS side of killpower, run late in the host's poweroff: what `upsdrvctl shutdown` does
 * (`C`, then shutdown.return with ups.delay.shutdown/start: `S.5R0003` by default), so the UPS
 * cuts its output after the delay and restores it once mains is back. Resolves with what was sent.
 */
export async function sendUpsShutdown(
  ups: UpsConfig,
  transport: Transport,
  deps: { clock: Clock; logger: Logger; stayoff?: boolean },
): Promise<string[]> {
  const driver = new UpsDriver(transport, driverOptions(ups, deps));
  await transport.open();
  try {
    return await driver.shutdownSequence({ stayoff: deps.stayoff ?? false });
  } finally {
    await transport.close();
  }
}
