import { CliError, EXIT_OK, EXIT_USAGE, type CliIo, numberOption } from '../../core/cli-io.js';
import { ScenarioError } from './scenario.js';
import { startPveSimulator, type PveSimulator } from './server.js';

/** `pvepower sim pve` flags, as commander hands them over (numbers may still be strings). */
export interface PveSimCommandOptions {
  /** The scenario file (YAML or JSON). */
  scenario?: string;
  /** Listening port (default 8006, as pveproxy; 0 picks a free one). */
  port?: string | number;
  /** Time scale: 20 runs guest shutdowns, boots and HA reactions 20× faster. */
  timeScale?: string | number;
  /** Listening address (default 127.0.0.1). */
  host?: string;
  /** Official schema for parameter checks (default: found next to the repo, else the built-in table). */
  apidata?: string;
}

/**
 * Serves the simulated cluster until SIGINT/SIGTERM (or `stop` aborts). Stdout gets exactly one
 * JSON line `{"port","ca","fingerprint","token_id","token_secret"}`; the summary goes to stderr.
 * Returns the exit code.
 */
export async function runPveSimCommand(options: PveSimCommandOptions, io: CliIo, stop?: AbortSignal): Promise<number> {
  if (!options.scenario) throw new CliError('pvepower sim pve needs --scenario FILE (e.g. config/sim-cluster.yaml)', EXIT_USAGE);
  const port = numberOption('--port', options.port, 8006, (v) => Number.isInteger(v) && v >= 0 && v <= 65535);
  const timeScale = numberOption('--time-scale', options.timeScale, 1, (v) => v > 0);

  let sim: PveSimulator;
  try {
    sim = await startPveSimulator({ scenario: options.scenario, port, timeScale, host: options.host, apidataPath: options.apidata });
  } catch (err) {
    if (err instanceof ScenarioError || (err as NodeJS.ErrnoException).code === 'ENOENT') throw new CliError((err as Error).message, EXIT_USAGE);
    throw err;
  }
  const line = { port: sim.port, ca: sim.caPath, fingerprint: sim.fingerprint, token_id: sim.tokenId, token_secret: sim.tokenSecret };
  io.out(`${JSON.stringify(line)}\n`);
  const c = sim.cluster;
  io.err(
    `pvepower sim pve: ${c.name ? `cluster ${c.name}` : 'standalone node'} (PVE ${c.version}), ${c.nodes.size} nodes, ` +
      `${c.guests.size} guests, time x${timeScale}, parameters checked against ${sim.schemaSource}\n` +
      `pvepower sim pve: listening on ${sim.url}, ticket login ${sim.username}\n`,
  );

  await new Promise<void>((resolve) => {
    const finish = () => {
      process.off('SIGINT', finish);
      process.off('SIGTERM', finish);
      stop?.removeEventListener('abort', finish);
      resolve();
    };
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
    if (stop?.aborted) return finish();
    stop?.addEventListener('abort', finish, { once: true });
  });
  await sim.close();
  return EXIT_OK;
}
