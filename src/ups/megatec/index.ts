export * from './parse.js';
export * from './status.js';
export * from './commands.js';
