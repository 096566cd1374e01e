/** `motlab import`: a checkpoint trained elsewhere becomes a run folder (docs/importing.md). */
import path from 'node:path';
import { MotlabError } from '../../common/errors.ts';
import { FORWARD_PASS_ANALYSES, WEIGHT_ANALYSES } from '../../common/imported-source.ts';
import { isPresetName, isSizeName, PRESET_NAMES, SIZE_NAMES } from '../../common/vocabulary.ts';
import { resolveDatasetDir } from '../../data/dataset.ts';
import { MAPPING_CHOICES } from '../../importers/mappings.ts';
import { importRun } from '../../api/handlers/imports.ts';
import { DEFAULT_DATASET } from '../../runs/create.ts';
import { progressLine } from '../progress.ts';
import { parseCommandFlags } from '../flags.ts';

const HELP = `motlab import --from <file.safetensors|index.json|dir> --out <runDir> [options]

  --from PATH        a safetensors file, a sharded checkpoint's *.safetensors.index.json, a folder
                     holding either, or a run folder (its latest checkpoint)
  --mapping M        the tensor naming: ${MAPPING_CHOICES.join(', ')}, or a mapping file (.json) (default auto)
  --preset P --size S   what the weights cannot tell (heads, window, tower grouping); presets:
                     ${PRESET_NAMES.join(', ')}; sizes: ${SIZE_NAMES.join(', ')}
  --config FILE      a run config file instead of --preset/--size (model fields, training settings)
  --data DIR|NAME    the dataset whose modalities the towers serve (default: ${DEFAULT_DATASET})
  --weights-only     import weights only (an architecture the lab cannot run; see docs/importing.md)
  --out DIR          the new run folder (must not exist, or be empty)
  --json             print the result as JSON`;

export async function runImportCommand(argv: string[]): Promise<number> {
  const values = parseCommandFlags(
    argv,
    {
      from: { type: 'string' },
      mapping: { type: 'string', default: 'auto' },
      preset: { type: 'string' },
      size: { type: 'string' },
      config: { type: 'string' },
      data: { type: 'string', default: DEFAULT_DATASET },
      'weights-only': { type: 'boolean', default: false },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    HELP,
  );
  if (!values) return 0;
  if (!values.from) throw new MotlabError('invalid_config', `--from <file|dir> is required\n\n${HELP}`);
  if (!values.out) throw new MotlabError('invalid_config', `--out <runDir> is required\n\n${HELP}`);
  if (values.preset !== undefined && !isPresetName(values.preset))
    throw new MotlabError('invalid_config', `--preset must be one of ${PRESET_NAMES.join(', ')} (got "${values.preset}")`);
  if (values.size !== undefined && !isSizeName(values.size))
    throw new MotlabError('invalid_config', `--size must be one of ${SIZE_NAMES.join(', ')} (got "${values.size}")`);

  const out = path.resolve(values.out);
  const { run, imported } = await importRun({
    from: values.from,
    mapping: values.mapping,
    preset: values.preset,
    size: values.size,
    configFile: values.config,
    datasetDir: resolveDatasetDir(values.data),
    weightsOnly: values['weights-only'],
    out,
    onProgress: progressLine((p) => `importing ${((100 * p.bytesWritten) / p.bytesTotal).toFixed(0)}%: ${p.tensor}`),
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  if (values.json) {
    console.log(
      JSON.stringify(
        { run: out, step: imported.step, tensors: imported.tensors, bytes: imported.bytes, model: run.model, source: run.source },
        null,
        2,
      ),
    );
    return 0;
  }
  const c = imported.config;
  const towers = (['attention', 'ffn', 'norm'] as const).map((k) => `${k} ${c.towers[k].map((g) => g.join('+')).join(' | ')}`).join('; ');
  console.log(`imported ${imported.tensors} tensors (${(imported.bytes / 2 ** 20).toFixed(1)} MiB float32) from ${imported.source.path}`);
  console.log(
    `naming: ${imported.source.mapping}${imported.source.dropped ? ` (${imported.source.dropped} tensors outside the language model dropped)` : ''}`,
  );
  console.log(
    `model: ${c.n_layers} layers, width ${c.d_model}, ${c.n_heads} heads, FFN ${c.ffn_hidden}, vocabulary ${c.vocab_size}, ` +
      `${c.norm_style} norms${c.qk_norm ? ', QK-norm' : ''}, RoPE θ ${c.rope_theta}, window ${c.seq_len}`,
  );
  console.log(`towers: ${towers}`);
  if (imported.source.assumed.length) console.log(`not in the weights, taken from elsewhere: ${imported.source.assumed.join(', ')}`);
  if (imported.source.weights_only) {
    console.log(`WEIGHTS ONLY: ${imported.source.weights_only}.`);
    console.log(`  unavailable (they need the forward pass): ${FORWARD_PASS_ANALYSES.join('; ')}`);
    console.log(`  available: ${WEIGHT_ANALYSES}`);
  }
  console.log(`run folder: ${out} (checkpoint step ${imported.step})`);
  return 0;
}
