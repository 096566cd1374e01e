/**
 * `motlab data build fashion-tri --out DIR [--images N] [--val-images N] [--seed N] [--source DIR]
 *  [--units N] [--concurrency N]` — src-main/cli/commands/data.ts dispatches here.
 */
import { parseArgs } from 'node:util';
import { MotlabError } from '../../common/errors.ts';
import { buildFashionTri, DEFAULTS } from './build.ts';

export const FASHION_BUILD_USAGE = `usage: motlab data build fashion-tri --out DIR [options]
  --out DIR          folder to write (dataset.json, {train,val}.tokens.npy, codebooks)
  --images N         training images (default ${DEFAULTS.trainImages}); a few hundred for a quick build
  --val-images N     validation images (default: ${DEFAULTS.valImages}, or N/10 when --images is given)
  --seed N           seed for every random choice (default ${DEFAULTS.seed})
  --source DIR       Fashion-MNIST *-ubyte.gz folder (default /usr/share/datasets/fashion-mnist)
  --units N          speech k-means units (default ${DEFAULTS.speechUnits})
  --concurrency N    espeak-ng processes at once (default ${DEFAULTS.concurrency})
Needs the Debian packages dataset-fashion-mnist and espeak-ng.`;

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new MotlabError('invalid_request', `${flag} must be a positive integer, got "${value}"`);
  return n;
}

export async function runFashionBuildCommand(argv: string[]): Promise<number> {
  const args = argv[0] === 'fashion-tri' ? argv.slice(1) : argv;
  try {
    const { values } = parseArgs({
      args,
      options: {
        out: { type: 'string' },
        images: { type: 'string' },
        'val-images': { type: 'string' },
        seed: { type: 'string' },
        source: { type: 'string' },
        units: { type: 'string' },
        concurrency: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
    if (values.help) {
      console.log(FASHION_BUILD_USAGE);
      return 0;
    }
    if (!values.out) throw new MotlabError('invalid_request', `--out DIR is required\n${FASHION_BUILD_USAGE}`);
    const trainImages = positiveInt(values.images, '--images');
    const valImages =
      positiveInt(values['val-images'], '--val-images') ??
      (trainImages !== undefined ? Math.max(1, Math.ceil(trainImages / 10)) : undefined);
    const seedText = values.seed;
    const seed = seedText === undefined ? undefined : Number(seedText);
    if (seed !== undefined && (!Number.isSafeInteger(seed) || seed < 0))
      throw new MotlabError('invalid_request', `--seed must be a non-negative integer, got "${seedText}"`);
    const started = Date.now();
    const summary = await buildFashionTri({
      outDir: values.out,
      sourceDir: values.source,
      trainImages,
      valImages,
      seed,
      speechUnits: positiveInt(values.units, '--units'),
      concurrency: positiveInt(values.concurrency, '--concurrency'),
      command: [
        'motlab',
        'data',
        'build',
        'fashion-tri',
        ...args.filter((_, i) => args[i - 1] !== '--out' && args[i] !== '--out' && !args[i].startsWith('--out=')),
      ].join(' '),
      log: (m) => console.log(m),
    });
    for (const split of ['train', 'val'] as const) {
      const s = summary.stats[split];
      console.log(`${split}: ${s.documents} documents, ${s.tokens} tokens (text ${s.text}, image ${s.image}, speech ${s.speech})`);
    }
    console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return 0;
  } catch (e) {
    if (e instanceof MotlabError || (e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS'))) {
      console.error(`motlab data build fashion-tri: ${e.message}`);
      return 2;
    }
    throw e;
  }
}
