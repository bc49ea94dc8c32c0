import { join } from 'node:path';
import type { CliIo } from '../core/cli-io.js';
import { CliError, EXIT_FAILURE, EXIT_OK } from '../core/cli-io.js';
import { systemClock } from '../core/clock.js';
import { createLogger } from '../core/logger.js';
import { CONTROL_SOCKET, controlRequest, serveControl } from '../daemon/control.js';
import { Daemon } from '../daemon/daemon.js';
import { sendUpsShutdown, transportFor } from '../daemon/ups.js';
import { KILLPOWER_MAGIC, SystemHost } from '../host/host.js';
import { ConfigError, formatConfigErrors, loadConfig } from '../policy/config.js';
import { connectPve, loadConfigOrExit } from './connect.js';

/**
 * `pvepower run`: the daemon until SIGTERM/SIGINT. SIGHUP reloads the config; an invalid new
 * config is reported and the old one kept.
 */
export async function runCommand(file: string): Promise<number> {
  const config = loadConfigOrExit(file);
  const logger = createLogger({ level: config.log.level, ...(config.log.format ? { format: config.log.format } : {}) });
  const pve = connectPve({ config: file }, { logger });
  const host = new SystemHost({ killpowerFlagPath: config.killpower.flag, shutdownCommand: config.hosts.shutdown_command, logger });
  const daemon = new Daemon({ config, transport: transportFor(config.ups, { clock: systemClock, logger }), pve, host, logger });
  daemon.on('event', (e) => logger.log(e.event === 'ONBATT' || e.event === 'LOWBATT' ? 'warn' : 'info', e.message, { event: e.event, ups: e.ups, status: e.status }));
  const control = await serveControl(daemon, join(config.state_dir, CONTROL_SOCKET));
  await daemon.start();
  logger.info('pvepower started', { config: file, ups: config.ups.name, port: config.ups.port });

  const onHup = () => {
    try {
      for (const note of daemon.reload(loadConfig(file))) logger.warn(note);
      logger.info('configuration reloaded', { config: file });
    } catch (err) {
      const detail = err instanceof ConfigError ? formatConfigErrors(err.issues) : (err as Error).message;
      logger.error(`configuration not reloaded, keeping the running one:\n${detail}`);
    }
  };
  process.on('SIGHUP', onHup);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  process.off('SIGHUP', onHup);
  logger.info('pvepower stopping');
  control.close();
  await daemon.stop();
  await pve.close();
  return EXIT_OK;
}

/** `pvepower trigger STAGE`: asks the running daemon to fire a stage now. */
export async function triggerCommand(file: string, stage: string, io: CliIo): Promise<number> {
  const config = loadConfigOrExit(file);
  const reply = await controlRequest(join(config.state_dir, CONTROL_SOCKET), { cmd: 'trigger', stage });
  if (!reply.ok) throw new CliError(reply.message ?? 'refused', EXIT_FAILURE);
  io.out(`${reply.message}\n`);
  return EXIT_OK;
}

/**
 * `pvepower killpower`: the UPS shutdown command, for the late-poweroff hook. Refuses unless the
 * killpower flag holds NUT's magic (or --force), so a stray call cannot cut a running host.
 */
export async function killpowerCommand(file: string, opts: { force?: boolean; stayoff?: boolean }, io: CliIo): Promise<number> {
  const config = loadConfigOrExit(file);
  const logger = createLogger({ level: 'warn' });
  const host = new SystemHost({ killpowerFlagPath: config.killpower.flag, logger, wallCommand: '' });
  if (!opts.force && !(await host.killpowerFlagSet())) {
    throw new CliError(`no killpower flag (${config.killpower.flag} holding "${KILLPOWER_MAGIC}"): nothing sent; use --force to send anyway`);
  }
  const transport = transportFor(config.ups, { clock: systemClock, logger });
  const sent = await sendUpsShutdown(config.ups, transport, { clock: systemClock, logger, stayoff: opts.stayoff ?? false });
  io.out(`sent to ${transport.description}: ${sent.join(', ')}\n`);
  return EXIT_OK;
}
