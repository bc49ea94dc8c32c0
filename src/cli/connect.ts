import { CliError, EXIT_USAGE } from '../core/cli-io.js';
import { createLogger, type Logger } from '../core/logger.js';
import { ConfigError, formatConfigErrors, loadConfig } from '../policy/config.js';
import type { PvepowerConfig } from '../policy/schema.js';
import { PveClient } from '../pve/client.js';
import { DEFAULT_CONFIG } from './defaults.js';


/** Loads a config or ends the command with its FILE:LINE:COL errors and exit code 2. */
export function loadConfigOrExit(file: string): PvepowerConfig {
  try {
    return loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(formatConfigErrors(err.issues), EXIT_USAGE);
    throw err;
  }
}

/** Flags that stand in for (or override) the config's `proxmox:` section. */
export interface PveFlags {
  config?: string;
  host?: string;
  port?: string;
  tokenId?: string;
  tokenSecretFile?: string;
  ca?: string;
  fingerprint?: string;
  timeout?: string;
}


/** A Proxmox client from flags, else from the config file; TLS is verified either way. */
export function connectPve(flags: PveFlags, opts: { logger?: Logger; readOnly?: boolean } = {}): PveClient {
  const fromFlags = flags.host !== undefined || flags.tokenId !== undefined;
  const proxmox = fromFlags ? undefined : loadConfigOrExit(flags.config ?? DEFAULT_CONFIG).proxmox;
  const host = flags.host ?? proxmox?.host ?? '127.0.0.1';
  const tokenId = flags.tokenId ?? proxmox?.token_id;
  const tokenSecretFile = flags.tokenSecretFile ?? proxmox?.token_secret_file;
  const ca = flags.ca ?? proxmox?.ca;
  const fingerprint = flags.fingerprint ?? proxmox?.fingerprint;
  if (!tokenId || !tokenSecretFile) throw new CliError('an API token is needed: --token-id and --token-secret-file (or a config)', EXIT_USAGE);
  if (!ca && !fingerprint) throw new CliError('TLS must be verified: pass --ca FILE or --fingerprint SHA256', EXIT_USAGE);
  const port = flags.port !== undefined ? Number(flags.port) : (proxmox?.port ?? 8006);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new CliError(`--port: expected 1..65535, got ${flags.port}`, EXIT_USAGE);
  return new PveClient({
    host,
    port,
    tokenId,
    tokenSecretFile,
    ...(ca ? { ca } : {}),
    ...(fingerprint ? { fingerprint } : {}),
    ...(proxmox ? { timeoutMs: proxmox.timeout } : {}),
    logger: opts.logger ?? createLogger({ level: 'warn' }),
    ...(opts.readOnly ? { readOnly: true } : {}),
  });
}
