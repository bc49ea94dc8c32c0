import tls from 'node:tls';
import { buildConnector } from 'undici';
import { PveConfigError, TlsError, TlsPinError } from './errors.js';

/**
 * Normalizes a SHA-256 certificate fingerprint to PVE's format (uppercase, colon-separated), the
 * same format as Node's `fingerprint256`. Accepts any case, with or without colons.
 */
export function normalizeFingerprint(fp: string): string {
  const hex = fp.trim().replace(/:/g, '').toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) {
    throw new PveConfigError(
      `invalid certificate fingerprint "${fp}": expected a SHA-256 fingerprint like AB:CD:… (32 bytes), ` +
        `as \`pvenode cert info\` shows it on the node`,
    );
  }
  return hex.match(/../g)!.join(':');
}

export interface TlsTrust {
  /** PEM of the CA(s) that sign the node certificates (e.g. /etc/pve/pve-root-ca.pem). */
  ca?: string;
  /** Accepted leaf fingerprints (normalized). Non-empty means pinning. */
  fingerprints?: string[];
}

// Chain and name verification failures as reported by OpenSSL through Node (tls authorizationError).
const VERIFY_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function verifyFailure(err: Error & { code?: string }, origin: string): TlsError | undefined {
  if (!err.code || !VERIFY_CODES.has(err.code)) return undefined;
  return new TlsError(
    `TLS certificate of ${origin} not trusted (${err.code}: ${err.message}). Set \`ca\` to the cluster CA ` +
      `(/etc/pve/pve-root-ca.pem) and connect by a name or IP in the certificate, or pin its fingerprint`,
    { code: err.code, cause: err },
  );
}

/**
 * An undici connector that verifies the server before undici writes a request: with a CA the
 * chain and name are checked by Node; with fingerprints the leaf certificate must match one of
 * them (like pve-apiclient, the name is then not checked). A failed check destroys the socket
 * inside the connect callback, so no request byte is ever sent to an unverified server.
 */
export function createConnector(trust: TlsTrust, connectTimeoutMs: number): buildConnector.connector {
  const pins = trust.fingerprints ?? [];
  if (!trust.ca && pins.length === 0) {
    throw new PveConfigError('no way to verify the PVE certificate: set `ca` or `fingerprint` (there is no unverified mode)');
  }
  const base = buildConnector({
    timeout: connectTimeoutMs,
    // Without a CA the chain cannot verify; the pin check below replaces it before any request.
    ...(trust.ca ? { ca: trust.ca } : { rejectUnauthorized: false }),
    // Every connection does a full handshake, so the pin is checked against a certificate the
    // server actually presented on it.
    ...(pins.length ? { maxCachedSessions: 0 } : {}),
  });
  return (opts, callback) => {
    const origin = `${opts.hostname}:${opts.port || 443}`;
    base(opts, (err, socket) => {
      if (err) {
        callback(verifyFailure(err, origin) ?? err, null);
        return;
      }
      if (pins.length) {
        const actual = (socket as tls.TLSSocket).getPeerCertificate().fingerprint256 ?? '(none)';
        if (!pins.includes(actual.toUpperCase())) {
          socket!.destroy();
          callback(new TlsPinError(opts.hostname, pins, actual), null);
          return;
        }
      }
      callback(null, socket!);
    });
  };
}
