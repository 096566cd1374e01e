/**
 * `motlab figure`: paper figures of the analysis views, headless (plain Node, no browser), through
 * the same export as the app (figures/kinds.ts). Every figure is written with its CSV (what was
 * plotted) and its JSON sidecar (the view state and figure options that regenerate it).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { MotlabError } from '../../common/errors.ts';
import { FIGURE_FORMATS, VIEW_KINDS, type FigureFormat, type ViewKind } from '../../common/views.ts';
import { initEngine } from '../../engine/engine.ts';
import { readFigureSpec } from '../../figures/csv.ts';
import { exportViewFigure, parseViewState, runFigureSet, type ExportedFigure, type FigureContext } from '../../figures/kinds.ts';
import { parseFigureOptions } from '../../figures/presets.ts';
import { parseInProcessEngineFlag, parseIntFlag } from '../flags.ts';

const HELP = `motlab figure <kind> [view flags] [figure flags] --out FILE
motlab figure --spec view.json [figure flags] --out FILE
motlab figure --all --run DIR [--reference RUN] [--format pdf,svg,png,csv] --out DIR

Kinds: ${VIEW_KINDS.join(', ')}.

View flags:
  --run DIR | --runs A,B,…      the run (or runs: losses, step-match) — run folders
  --reference RUN               the dense run to compare with (step-match; losses adds it first)
  --layers N[,N…]               layer (pca, routing) or layers (pca-grid)
  --checkpoints S[,S…]          checkpoint step (pca) or steps (pca-grid, routing, towers)
  --panel P                     routing: load|entropy|aux|dropped|affinity|locality|agreement;
                                towers: tokens|grad-norms|weight-drift|output-drift
  --component ffn|attention     towers drift: whose towers are compared (default ffn)
  --metric M                    separability: probe_accuracy|silhouette|between_within_ratio; towers: cka|cosine
  --over layers|checkpoints     separability curves over layers (default) or over training
  --split val|train|both        losses (default val)
  --x steps|tokens|flops|wall   x axis of losses and step-match (default steps)
  --smoothing W                 EMA weight of training curves (default 0.6)
  --colour-by modality|position|token   PCA colouring
Figure flags:
  --preset icml-column|icml-full|neurips|ieee-column|ieee-full|WxH   size (default icml-column; WxH in inches)
  --format pdf|svg|png|csv      (default: from --out's extension, else pdf)
  --dpi N                       PNG resolution (default 300)
  --aspect R  --font-size PT  --palette okabe-ito|tableau-10|greyscale  --legend top|right|bottom|inside|none  --title
  --engine auto|wasm|cpu|…      engine of the analyses that run the model (PCA, routing, towers)

Writes FILE, FILE's CSV (<stem>.csv) and sidecar (<stem>.json); with --all, DIR/<figure>.<format> for each
figure of the run's set.`;

const OPTIONS = {
  spec: { type: 'string' },
  all: { type: 'boolean', default: false },
  run: { type: 'string' },
  runs: { type: 'string' },
  reference: { type: 'string' },
  layers: { type: 'string' },
  checkpoints: { type: 'string' },
  panel: { type: 'string' },
  metric: { type: 'string' },
  component: { type: 'string' },
  over: { type: 'string' },
  split: { type: 'string' },
  x: { type: 'string' },
  smoothing: { type: 'string' },
  'colour-by': { type: 'string' },
  preset: { type: 'string' },
  format: { type: 'string' },
  dpi: { type: 'string' },
  aspect: { type: 'string' },
  'font-size': { type: 'string' },
  palette: { type: 'string' },
  legend: { type: 'string' },
  title: { type: 'boolean' },
  engine: { type: 'string', default: 'auto' },
  out: { type: 'string' },
  help: { type: 'boolean', default: false },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; strict: true }>>['values'];

function intList(flag: string, value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  return value.split(',').map((s) => parseIntFlag(flag, s.trim(), 0)!);
}

function numberFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n))
    throw new MotlabError('invalid_config', `${flag} must be a number (got ${JSON.stringify(value)})`);
  return n;
}

function formatOf(values: Values, out: string): FigureFormat {
  const given = values.format ?? path.extname(out).slice(1).toLowerCase();
  if ((FIGURE_FORMATS as readonly string[]).includes(given)) return given as FigureFormat;
  if (values.format !== undefined)
    throw new MotlabError('invalid_config', `--format must be one of ${FIGURE_FORMATS.join(', ')} (got ${JSON.stringify(values.format)})`);
  return 'pdf';
}

/** Figure options from the flags (undefined = the spec's, else the default). */
function figureFlags(values: Values): Record<string, unknown> {
  const flags: Record<string, unknown> = {
    preset: values.preset,
    aspect: numberFlag('--aspect', values.aspect),
    fontSize: numberFlag('--font-size', values['font-size']),
    palette: values.palette,
    legend: values.legend,
    title: values.title,
    dpi: parseIntFlag('--dpi', values.dpi),
  };
  return Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
}

/** A view state from the flags of `motlab figure <kind>`. */
function viewFromFlags(kind: ViewKind, values: Values): Record<string, unknown> {
  const runs = values.runs
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const oneRun = (): string => {
    const run = values.run ?? (runs?.length === 1 ? runs[0] : undefined);
    if (!run) throw new MotlabError('invalid_config', `motlab figure ${kind} needs --run DIR`);
    return run;
  };
  const layers = intList('--layers', values.layers);
  const checkpoints = intList('--checkpoints', values.checkpoints);
  const single = (flag: string, list: number[] | undefined): number | undefined => {
    if (list && list.length > 1)
      throw new MotlabError('invalid_config', `motlab figure ${kind} takes one value for ${flag} (got ${list.join(',')})`);
    return list?.[0];
  };
  const view: Record<string, unknown> = { kind };
  switch (kind) {
    case 'losses': {
      const list = runs ?? (values.run ? [values.run] : []);
      if (list.length === 0) throw new MotlabError('invalid_config', 'motlab figure losses needs --run DIR or --runs A,B,…');
      view.runs = values.reference ? [values.reference, ...list.filter((r) => r !== values.reference)] : list;
      Object.assign(view, { split: values.split, x: values.x, smoothing: numberFlag('--smoothing', values.smoothing) });
      break;
    }
    case 'step-match': {
      if (!values.reference) throw new MotlabError('invalid_config', 'motlab figure step-match needs --reference RUN (the dense run)');
      const list = runs ?? (values.run ? [values.run] : []);
      if (list.length === 0) throw new MotlabError('invalid_config', 'motlab figure step-match needs --run DIR or --runs A,B,…');
      Object.assign(view, { reference: values.reference, runs: list, x: values.x });
      break;
    }
    case 'pca':
    case 'pca-grid':
    case 'separability': {
      Object.assign(view, { run: oneRun(), colourBy: values['colour-by'] });
      if (kind === 'pca') Object.assign(view, { layer: single('--layers', layers), checkpoint: single('--checkpoints', checkpoints) });
      if (kind === 'separability') Object.assign(view, { metric: values.metric, over: values.over });
      break;
    }
    case 'routing':
      Object.assign(view, { run: oneRun(), layer: single('--layers', layers), panel: values.panel, checkpoints });
      break;
    case 'towers':
      Object.assign(view, { run: oneRun(), panel: values.panel, metric: values.metric, component: values.component, checkpoints });
      break;
  }
  return Object.fromEntries(Object.entries(view).filter(([, v]) => v !== undefined));
}

/** pca-grid without --layers/--checkpoints: every layer (up to 4) at up to 4 checkpoints spread over training. */
async function completeGrid(view: Record<string, unknown>, values: Values): Promise<void> {
  if (view.kind !== 'pca-grid') return;
  const { readRunForAnalysis } = await import('../../analysis/run-checkpoints.ts');
  const run = await readRunForAnalysis(path.resolve(String(view.run)));
  const spread = <T>(xs: T[], n: number): T[] =>
    xs.length <= n ? xs : Array.from({ length: n }, (_, i) => xs[Math.round((i * (xs.length - 1)) / (n - 1))]);
  view.layers =
    intList('--layers', values.layers) ??
    spread(
      Array.from({ length: run.run.model.n_layers }, (_, l) => l),
      4,
    );
  view.checkpoints =
    intList('--checkpoints', values.checkpoints) ??
    spread(
      run.checkpoints.map((c) => c.step),
      4,
    );
}

/** FILE, plus <stem>.csv and <stem>.json beside it (a CSV export is its own CSV). */
async function writeFigure(out: string, exported: ExportedFigure): Promise<string[]> {
  await mkdir(path.dirname(out), { recursive: true });
  const stem = out.slice(0, out.length - path.extname(out).length);
  await writeFile(out, exported.data);
  const written = [out];
  if (exported.format !== 'csv') {
    await writeFile(`${stem}.csv`, exported.csv);
    written.push(`${stem}.csv`);
  }
  await writeFile(`${stem}.json`, exported.sidecar);
  written.push(`${stem}.json`);
  return written;
}

export async function runFigureCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: true });
  if (values.help) return (console.log(HELP), 0);
  if (!values.out) throw new MotlabError('invalid_config', `--out is required\n\n${HELP}`);
  const engine = parseInProcessEngineFlag(values.engine);
  let engineReady: Promise<unknown> | null = null;
  const ctx: FigureContext = {
    runDir: (ref) => path.resolve(ref),
    ensureEngine: () => (engineReady ??= initEngine(engine)),
    cache: new Map(),
  };
  const figureOverrides = figureFlags(values);
  const [kind, ...extra] = positionals;
  if (extra.length) throw new MotlabError('invalid_config', `unexpected argument ${JSON.stringify(extra[0])} (see "motlab figure --help")`);
  const modes = [values.spec !== undefined, values.all, kind !== undefined].filter(Boolean).length;
  if (modes !== 1) throw new MotlabError('invalid_config', `give exactly one of a figure kind, --spec FILE or --all\n\n${HELP}`);

  if (values.all) {
    if (!values.run) throw new MotlabError('invalid_config', 'motlab figure --all needs --run DIR');
    const formats = (values.format ?? 'pdf').split(',').map((f) => f.trim());
    for (const f of formats)
      if (!(FIGURE_FORMATS as readonly string[]).includes(f))
        throw new MotlabError('invalid_config', `--format must list formats among ${FIGURE_FORMATS.join(', ')} (got ${JSON.stringify(f)})`);
    const set = await runFigureSet(values.run, values.reference ?? null, ctx);
    const start = performance.now();
    for (const entry of set) {
      for (const format of formats) {
        const exported = await exportViewFigure(entry.view, { ...figureOverrides, format }, ctx);
        await writeFigure(path.join(values.out, `${entry.name}.${format}`), exported);
      }
      console.log(`${entry.name}: ${formats.map((f) => `${entry.name}.${f}`).join(', ')}`);
    }
    console.log(`${set.length} figures in ${values.out} (${((performance.now() - start) / 1000).toFixed(1)} s)`);
    return 0;
  }

  let view: unknown;
  let figure: Record<string, unknown>;
  if (values.spec !== undefined) {
    let text: string;
    try {
      text = await readFile(values.spec, 'utf8');
    } catch (error) {
      throw new MotlabError(
        'not_found',
        `${values.spec}: cannot read the figure spec (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      );
    }
    const spec = readFigureSpec(text, values.spec);
    view = spec.view;
    figure = { ...spec.figure, ...figureOverrides };
    if (values.format !== undefined || path.extname(values.out)) figure.format = formatOf(values, values.out);
  } else {
    if (!(VIEW_KINDS as readonly string[]).includes(kind!))
      throw new MotlabError('invalid_config', `unknown figure kind ${JSON.stringify(kind)} (have ${VIEW_KINDS.join(', ')})`);
    const flags = viewFromFlags(kind as ViewKind, values);
    await completeGrid(flags, values);
    view = parseViewState(flags, `motlab figure ${kind}`);
    figure = { ...figureOverrides, format: formatOf(values, values.out) };
  }
  const exported = await exportViewFigure(view, parseFigureOptions(figure, 'motlab figure'), ctx);
  const written = await writeFigure(values.out, exported);
  console.log(written.join('\n'));
  return 0;
}
