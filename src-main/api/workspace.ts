/**
 * A workspace is a folder holding `runs/` and `datasets/`. On first use it is created with a
 * ready-to-run example: a small synthetic dataset made by `motlab data synth`.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { DatasetInfo } from '../common/api/types.ts';

const execFileAsync = promisify(execFile);

export const WORKSPACE_MARKER = 'motlab-workspace.json';
export const EXAMPLE_DATASET = 'example-synth';

export function defaultWorkspacePath(): string {
  return resolve(process.env.MOTLAB_WORKSPACE || join(homedir(), 'MoTLab'));
}

export interface CliRunner {
  cliPath: string;
  execPath?: string;
  env?: NodeJS.ProcessEnv;
}

/** Create the folders (and, the first time, the example dataset). Returns notes for the person. */
export async function ensureWorkspace(path: string, cli: CliRunner): Promise<string[]> {
  const notes: string[] = [];
  await mkdir(join(path, 'runs'), { recursive: true });
  await mkdir(join(path, 'datasets'), { recursive: true });
  const example = join(path, 'datasets', EXAMPLE_DATASET);
  if (!existsSync(join(example, 'dataset.json'))) {
    try {
      await execFileAsync(cli.execPath ?? process.execPath, [cli.cliPath, 'data', 'synth', '--out', example], {
        env: { ...process.env, ...cli.env },
        timeout: 120_000,
      });
    } catch (error) {
      const detail = (error as { stderr?: string }).stderr?.trim() || (error as Error).message;
      notes.push(`The example dataset could not be created (${detail.split('\n')[0]}); run "motlab data synth --out ${example}".`);
    }
  }
  if (!existsSync(join(path, WORKSPACE_MARKER))) {
    await writeFile(
      join(path, WORKSPACE_MARKER),
      JSON.stringify({ format: 'motlab-workspace', version: 1, created: new Date().toISOString() }, null, 2) + '\n',
    );
  }
  return notes;
}

async function readDataset(dir: string, builtin: boolean): Promise<DatasetInfo | null> {
  try {
    const spec = JSON.parse(await readFile(join(dir, 'dataset.json'), 'utf8')) as Partial<DatasetInfo>;
    if (typeof spec.vocab_size !== 'number' || !Array.isArray(spec.modalities)) return null;
    return {
      name: dir.split(/[\\/]/).pop() ?? String(spec.name),
      path: dir,
      builtin,
      vocab_size: spec.vocab_size,
      modalities: spec.modalities.map((m) => ({ name: m.name, start: m.start, end: m.end })),
      splits: Array.isArray(spec.splits) ? spec.splits : [],
      description: typeof spec.description === 'string' ? spec.description : undefined,
    };
  } catch {
    return null;
  }
}

async function datasetsIn(root: string, builtin: boolean): Promise<DatasetInfo[]> {
  let names: string[];
  try {
    names = (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
  const found = await Promise.all(names.sort().map((n) => readDataset(join(root, n), builtin)));
  return found.filter((d): d is DatasetInfo => d !== null);
}

/**
 * Built-in datasets first (fashion-tri, the default, is one), then the workspace's.
 * A workspace dataset shadows a built-in of the same name, in the built-in's place.
 */
export async function listDatasetsOf(workspace: string, builtinRoot: string): Promise<DatasetInfo[]> {
  const own = await datasetsIn(join(workspace, 'datasets'), false);
  const builtins = (await datasetsIn(builtinRoot, true)).map((b) => own.find((o) => o.name === b.name) ?? b);
  return [...builtins, ...own.filter((o) => !builtins.includes(o))];
}
