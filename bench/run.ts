import { parseArgs } from 'node:util';
import { processes, UsageError, type Bench, type BenchOption, type BenchRow, type BenchValues } from './harness.js';
import { upsBench } from './ups.js';
import { orchestrationBenchDef, planBenchDef } from './policy.js';

/**
 * `npm run bench [-- --only NAME] [bench flags]`: runs every registered bench (or the named
 * ones) and prints one summary table. Exit 1 when a target is missed or a bench failed, 2 for
 * bad flags. To add a bench, write a module exporting a Bench and list it here.
 */
export const BENCHES: readonly Bench[] = [upsBench, planBenchDef, orchestrationBenchDef];

const COMMON_OPTIONS: Record<string, BenchOption> = {
  only: { type: 'string', description: 'run only these benches (comma-separated or repeated)' },
  help: { type: 'boolean', description: 'show the benches and their flags' },
};

function allOptions(): Record<string, BenchOption> {
  const options = { ...COMMON_OPTIONS };
  for (const bench of BENCHES) {
    for (const [name, option] of Object.entries(bench.options ?? {})) {
      if (Object.hasOwn(options, name)) throw new Error(`bench ${bench.name}: flag --${name} is already taken`);
      options[name] = option;
    }
  }
  return options;
}

function usage(): string {
  const lines = ['usage: npm run bench -- [--only NAME[,NAME]] [flags]', '', 'benches:'];
  for (const bench of BENCHES) lines.push(`  ${bench.name.padEnd(10)} ${bench.description}`);
  lines.push('', 'flags:');
  for (const [name, option] of Object.entries(allOptions())) {
    const arg = option.type === 'string' ? ' <value>' : '';
    const dflt = option.default === undefined ? '' : ` (default ${option.default})`;
    lines.push(`  --${name}${arg}`.padEnd(28) + option.description + dflt);
  }
  return lines.join('\n') + '\n';
}

function parse(argv: string[]): { values: BenchValues; selected: Bench[]; help: boolean } {
  const options = allOptions();
  const config = Object.fromEntries(
    Object.entries(options).map(([name, { type, default: dflt }]) => [
      name,
      name === 'only' ? { type, multiple: true } : dflt === undefined ? { type } : { type, default: dflt },
    ]),
  ) as Record<string, { type: 'string' | 'boolean'; multiple?: boolean; default?: string }>;
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: config, strict: true, allowPositionals: false });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { only, help, ...values } = parsed.values as BenchValues & { only?: string[]; help?: boolean };
  const names = (only ?? []).flatMap((o) => o.split(',')).filter(Boolean);
  const unknown = names.filter((n) => !BENCHES.some((b) => b.name === n));
  if (unknown.length > 0) throw new UsageError(`unknown bench ${unknown.join(', ')}; known: ${BENCHES.map((b) => b.name).join(', ')}`);
  const selected = names.length === 0 ? [...BENCHES] : BENCHES.filter((b) => names.includes(b.name));
  return { values, selected, help: help === true };
}

function table(rows: Array<BenchRow & { bench: string }>): string {
  const header = { bench: 'bench', metric: 'metric', value: 'value', target: 'target', verdict: 'verdict' };
  const all = [header, ...rows.map((r) => ({ ...r, target: r.target ?? '' }))];
  const keys = ['bench', 'metric', 'value', 'target', 'verdict'] as const;
  const width = Object.fromEntries(keys.map((k) => [k, Math.max(...all.map((r) => r[k].length))])) as Record<(typeof keys)[number], number>;
  const line = (r: (typeof all)[number]) => keys.map((k) => r[k].padEnd(width[k])).join('  ').trimEnd();
  return [line(header), keys.map((k) => '-'.repeat(width[k])).join('  '), ...all.slice(1).map(line)].join('\n') + '\n';
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parse(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`bench: ${err.message}\n\n${usage()}`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(usage());
    return 0;
  }
  const rows: Array<BenchRow & { bench: string }> = [];
  for (const bench of parsed.selected) {
    const log = (line: string) => process.stdout.write(`[${bench.name}] ${line}\n`);
    log(bench.description);
    try {
      for (const row of await bench.run({ values: parsed.values, log })) rows.push({ bench: bench.name, ...row });
    } catch (err) {
      if (err instanceof UsageError) {
        process.stderr.write(`bench: ${err.message}\n`);
        return 2;
      }
      log(`failed: ${(err as Error).stack ?? err}`);
      rows.push({ bench: bench.name, metric: 'run', value: (err as Error).message, verdict: 'FAIL' });
    } finally {
      await processes.stopAll();
    }
  }
  process.stdout.write('\n' + table(rows));
  return rows.some((r) => r.verdict === 'FAIL') ? 1 : 0;
}

// An interrupted run must not leave drivers, upsd or watch processes behind.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    processes.killAll();
    process.exit(130);
  });
}
process.on('exit', () => processes.killAll());

process.exitCode = await main(process.argv.slice(2));
