// Run as a child process by http.test.ts: a CLI-like use of the client (one call, then close).
// The parent measures how long the process takes to exit after printing "closed".
import { PveClient } from '../../../src/pve/client.js';

const client = new PveClient({
  host: '127.0.0.1',
  port: Number(process.env.PVE_PORT),
  tokenId: process.env.PVE_TOKEN_ID,
  tokenSecret: process.env.PVE_TOKEN_SECRET,
  ca: process.env.PVE_CA,
  // A long timeout and keep-alive socket: only close() can let the process exit quickly.
  timeoutMs: 60_000,
});
const v = await client.version();
process.stdout.write(`version ${v.version}\n`);
// A call still waiting for its answer when close() runs must not hold the process either.
const pending = client.guests().catch((err: Error) => process.stdout.write(`pending: ${err.name}\n`));
await new Promise((r) => setTimeout(r, 100));
await client.close();
await pending;
process.stdout.write('closed\n');
