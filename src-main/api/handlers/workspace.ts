/** The workspace area of the API: which folder is open, and what can be made in it. */
import { readdir } from 'node:fs/promises';
import { PRESET_DESCRIPTIONS, SIZES } from '../../model/presets.ts';
import { ENGINE_CHOICES, PRESET_NAMES, SIZE_NAMES, TORCH_ENGINE } from '../../common/vocabulary.ts';
import { torchAvailability } from '../../runs/torch.ts';
import { TRAINING_DEFAULTS } from '../../training/config.ts';
import type { ApiHandlers } from '../../common/api/definition.ts';
import { EXAMPLE_DATASET, listDatasetsOf, prepareWorkspace } from '../workspace.ts';
import { runsDirOf, type ApiContext } from '../context.ts';

export function workspaceHandlers(ctx: ApiContext): Pick<ApiHandlers, 'getWorkspace' | 'openWorkspace' | 'getCatalog' | 'listEngines'> {
  const { state, options } = ctx;
  const handlers: Pick<ApiHandlers, 'getWorkspace' | 'openWorkspace' | 'getCatalog' | 'listEngines'> = {
    async getWorkspace() {
      const runs = await readdir(runsDirOf(ctx)).catch(() => []);
      const datasets = await listDatasetsOf(state.workspace, options.builtinDatasets);
      return { path: state.workspace, runCount: runs.length, datasetCount: datasets.length, notes: state.notes };
    },

    async openWorkspace({ path }) {
      // Checked and prepared first; the open workspace changes only when that succeeded.
      const opened = await prepareWorkspace(path, options);
      state.workspace = opened.path;
      state.notes = opened.notes;
      ctx.emit({ type: 'workspace-changed', path: state.workspace });
      return handlers.getWorkspace({});
    },

    async getCatalog() {
      const datasets = await listDatasetsOf(state.workspace, options.builtinDatasets);
      const preferred = datasets.find((d) => d.name === 'fashion-tri') ?? datasets.find((d) => d.name === EXAMPLE_DATASET) ?? datasets[0];
      return {
        presets: PRESET_NAMES.map((name) => ({ name, description: PRESET_DESCRIPTIONS[name] })),
        sizes: SIZE_NAMES.map((name) => ({ name, ...SIZES[name], defaultSteps: TRAINING_DEFAULTS[name].steps })),
        engines: [...ENGINE_CHOICES],
        defaults: { preset: 'mot', size: 'tiny', dataset: preferred?.name },
      };
    },

    async listEngines() {
      // The in-process engines are checked when a run starts (loading them here would load
      // TensorFlow.js); torch is probed once (a Python that imports PyTorch), which takes seconds.
      const torch = await torchAvailability();
      return ENGINE_CHOICES.map((name) => (name === TORCH_ENGINE ? { name, ...torch } : { name, available: true }));
    },
  };
  return handlers;
}
