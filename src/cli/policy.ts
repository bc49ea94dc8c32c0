import type { CliIo } from '../core/cli-io.js';
import { CliError, EXIT_OK, EXIT_USAGE } from '../core/cli-io.js';
import { parseDuration } from '../core/duration.js';
import type { Logger } from '../core/logger.js';
import { planFor, readCluster } from '../daemon/cluster-plan.js';
import { ConfigError, formatConfigErrors, loadConfig } from '../policy/config.js';
import { formatConfigSummary, formatPlanTable, planToJson } from '../policy/format.js';
import type { PvepowerConfig } from '../policy/schema.js';
import type { Plan } from '../policy/types.js';
import type { PveApi } from '../pve/types.js';

/** `pvepower check-config FILE`: every error as FILE:LINE:COL key: message (exit 2), or a summary. */
export function checkConfigCommand(file: string, io: CliIo): number {
  try {
    const config = loadConfig(file);
    io.out(`${file}: OK\n${formatConfigSummary(config)}`);
    return EXIT_OK;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.out(formatConfigErrors(err.issues) + '\n');
    return EXIT_USAGE;
  }
}

export function parseRuntimeFlag(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseDuration(text);
  } catch (err) {
    throw new CliError(`--runtime: ${(err as Error).message}`, EXIT_USAGE);
  }
}

/** The plan against the live cluster (GETs only). */
export async function livePlan(config: PvepowerConfig, pve: PveApi, logger: Logger, runtimeMs?: number): Promise<Plan> {
  return planFor(config, await readCluster(pve, config, logger), runtimeMs);
}

/** `pvepower plan [--json]`: stages → groups → guests with estimates, host order, warnings. */
export async function planCommand(
  config: PvepowerConfig,
  pve: PveApi,
  opts: { json?: boolean; runtime?: string },
  io: CliIo,
  logger: Logger,
): Promise<number> {
  const plan = await livePlan(config, pve, logger, parseRuntimeFlag(opts.runtime));
  io.out(opts.json ? planToJson(plan) + '\n' : formatPlanTable(plan));
  return EXIT_OK;
}
