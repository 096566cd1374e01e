/**
 * The workspace's runs for an analysis view's run pickers, kept current: read when the view
 * opens, again when a run changes status and after a reconnection. Call during component
 * initialisation.
 */
import { onMount } from 'svelte';
import { api } from './api.ts';
import { coalesce, onApiEvent, reloadOnReconnect } from './live.svelte.ts';
import type { RunSummary } from '../../src-main/common/api/types.ts';

export interface WorkspaceRuns {
  /** Null until first read. */
  readonly runs: RunSummary[] | null;
  readonly error: string | null;
  reload(): void;
}

/** `onload` sees every fresh list (a view picks its default runs from the first). */
export function useWorkspaceRuns(onload?: (runs: RunSummary[]) => void): WorkspaceRuns {
  const store = $state<{ runs: RunSummary[] | null; error: string | null }>({ runs: null, error: null });
  async function load() {
    try {
      store.runs = await api.listRuns({});
      store.error = null;
      onload?.(store.runs);
    } catch (e) {
      store.error = (e as Error).message;
    }
  }
  const reload = coalesce(load, 500);
  onMount(() => {
    void load();
    return onApiEvent((e) => {
      if (e.type === 'run-status') reload();
    });
  });
  reloadOnReconnect(reload);
  return {
    get runs() {
      return store.runs;
    },
    get error() {
      return store.error;
    },
    reload,
  };
}
