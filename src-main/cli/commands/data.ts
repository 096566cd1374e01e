/**
 * `motlab data synth|check|build`: make the synthetic dataset, check a dataset folder, or build
 * a real one (fashion-tri, in src-main/data/fashion-tri/).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { checkDataset, formatDatasetReport } from '../../data/check.ts';
import { writeSyntheticDataset } from '../../data/synthetic.ts';
import { oneLine, terminalSafe } from '../../common/text.ts';

const USAGE = `Usage:
  motlab data synth --out <datasetDir> [--tokens N] [--seed N] [--val-fraction F]
      Write the seeded synthetic tri-modal dataset (text, image, speech; vocab 512).
      --tokens N        training tokens (default 400000)
      --seed N          sampling seed (default 0); same seed, same bytes
      --val-fraction F  share of all tokens in the val split (default 0.1)
  motlab data check <datasetDir> [--seq-len N] [--json]
      Validate a dataset folder; exit code 0 when usable, 1 when it has problems.
      --seq-len N       the seq_len you will train with: every split needs N + 1 tokens
  motlab data build fashion-tri --out <datasetDir> [options]
      Build the Fashion-MNIST tri-modal dataset ("motlab data build fashion-tri --help").`;

/** A usage error: print it with the usage and exit 2, as the main dispatcher does. */
class UsageError extends Error {}

function parse<T extends Record<string, { type: 'string' | 'boolean' }>>(args: string[], options: T, positionals: number) {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: positionals > 0,
      strict: true,
    });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message.split('. To specify')[0] : String(e));
  }
  if (parsed.positionals.length > positionals) throw new UsageError(`unexpected argument "${parsed.positionals[positionals]}"`);
  return parsed;
}

function integer(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return n;
}

async function synth(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    { out: { type: 'string' }, tokens: { type: 'string' }, seed: { type: 'string' }, 'val-fraction': { type: 'string' } },
    0,
  );
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.out) throw new UsageError('--out <datasetDir> is required');
  const tokens = integer(values.tokens as string | undefined, '--tokens', 1000);
  const seed = integer(values.seed as string | undefined, '--seed', 0);
  let valFraction: number | undefined;
  if (values['val-fraction'] !== undefined) {
    valFraction = Number(values['val-fraction']);
    if (!(valFraction > 0 && valFraction < 1))
      throw new UsageError(`--val-fraction must be between 0 and 1, got ${JSON.stringify(values['val-fraction'])}`);
  }
  const out = path.resolve(values.out as string);
  await writeSyntheticDataset(out, { tokens, seed, valFraction });
  const report = await checkDataset(out);
  console.log(formatDatasetReport(report));
  return report.ok ? 0 : 1;
}

async function check(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' }, 'seq-len': { type: 'string' } }, 1);
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('a dataset folder is required: motlab data check <datasetDir>');
  const seqLen = integer(values['seq-len'] as string | undefined, '--seq-len', 2);
  const report = await checkDataset(path.resolve(positionals[0]), { seqLen });
  // JSON with control characters escaped is still the same JSON (they only occur in strings).
  console.log(values.json ? terminalSafe(JSON.stringify(report, null, 2)) : formatDatasetReport(report));
  return report.ok ? 0 : 1;
}

export async function runDataCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'synth':
        return await synth(rest);
      case 'check':
        return await check(rest);
      case 'build': {
        // ---- `data build <name>`: real datasets, each in its own module (loaded on demand). ----
        if (rest[0] !== 'fashion-tri' && rest[0] !== '--help' && rest[0] !== '-h')
          throw new UsageError(`data build: unknown dataset "${rest[0] ?? ''}" (available: fashion-tri)`);
        const { runFashionBuildCommand } = await import('../../data/fashion-tri/cli.ts');
        return await runFashionBuildCommand(rest);
      }
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        console.log(USAGE);
        return sub === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown data subcommand "${sub}" (synth, check or build)`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`motlab data: ${oneLine(e.message)}\n\n${USAGE}`);
      return 2;
    }
    throw e; // MotlabError and the rest: the main dispatcher reports them
  }
}
