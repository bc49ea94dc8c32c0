import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../../src/core/logger.js';
import { PveClient, type PveClientOptions } from '../../../src/pve/client.js';
import { FakePve } from './fake-pve.js';
import { TestServer } from './server.js';

export const TOKEN_ID = 'pvepower@pve!ups';
export const TOKEN_SECRET = '3f1e2d4c-5b6a-4798-8a9b-0c1d2e3f4a5b';

/** A real logger (redaction included) writing into a string, to inspect what would be logged. */
export function captureLogger(): { logger: Logger; text: () => string } {
  let out = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  });
  return { logger: createLogger({ level: 'debug', format: 'text', stream }), text: () => out };
}

/** FakePve behind the HTTPS test server, and a token client trusting the test CA. */
export async function startFake(now?: () => number) {
  const fake = new FakePve(now);
  fake.tokenHeader = `PVEAPIToken=${TOKEN_ID}=${TOKEN_SECRET}`;
  const server = await TestServer.start(fake.handle);
  const clients: PveClient[] = [];
  const client = (opts: Partial<PveClientOptions> = {}) => {
    const c = new PveClient({
      host: '127.0.0.1',
      port: server.port,
      tokenId: TOKEN_ID,
      tokenSecret: TOKEN_SECRET,
      ca: server.pki.caPem,
      retryDelayMs: 10,
      ...opts,
    });
    clients.push(c);
    return c;
  };
  const close = async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
  };
  return { fake, server, client, close };
}
