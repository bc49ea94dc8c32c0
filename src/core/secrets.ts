/**
 * Registry of secret strings (API token secrets, NUT passwords). Every log line and every error
 * message that leaves the process passes through redact(), so a secret that slipped into a
 * message by accident is still never shown.
 */
const secrets = new Set<string>();

export function registerSecret(secret: string): void {
  // Very short strings would redact ordinary words; real secrets are long.
  if (secret.length >= 4) secrets.add(secret);
}

export function redact(text: string): string {
  let out = text;
  for (const s of secrets) {
    if (out.includes(s)) out = out.split(s).join('***');
  }
  return out;
}
