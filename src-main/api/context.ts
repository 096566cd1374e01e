/**
 * What every area of the API shares: the open workspace, the event stream, the job manager and
 * the paths of runs. The handlers of each area (handlers/*.ts) take this.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MotlabError } from '../common/errors.ts';
import type { ApiEvent } from '../common/api/types.ts';
import type { JobManager } from '../runs/jobs/manager.ts';
import type { CliRunner } from './workspace.ts';

export interface ApiOptions extends CliRunner {
  workspace: string;
  /**
   * Server mode: openWorkspace may only open folders inside these (see prepareWorkspace). The
   * desktop app leaves it unset: there the person picks a folder in the system's own dialog.
   */
  workspaceRoots?: readonly string[];
  /** Folder of builtin datasets (assets/datasets). */
  builtinDatasets: string;
}

export interface ApiContext {
  readonly options: ApiOptions;
  /** The open workspace folder and what to tell the person about it. */
  readonly state: { workspace: string; notes: string[] };
  readonly jobs: JobManager;
  emit(event: ApiEvent): void;
}

export const runsDirOf = (ctx: ApiContext) => join(ctx.state.workspace, 'runs');
export const runDirOf = (ctx: ApiContext, name: string) => join(runsDirOf(ctx), name);

/** The folder of run `name`, or a not_found error. */
export function existingRunDir(ctx: ApiContext, name: string): string {
  const dir = runDirOf(ctx, name);
  if (!existsSync(dir)) throw new MotlabError('not_found', `No run named "${name}" in workspace ${ctx.state.workspace}`);
  return dir;
}
