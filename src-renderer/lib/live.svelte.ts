/** Connection state and pushed events, shared by the views. */
import type { ConnectionState } from '../../src-main/common/api/client.ts';
import type { ApiEvent } from '../../src-main/common/api/types.ts';
import { api } from './api.ts';

export const connection = $state<{ state: ConnectionState; generation: number }>({ state: 'connecting', generation: 0 });

/** Subscribe to pushed events; the returned function unsubscribes. */
export function onApiEvent(listener: (event: ApiEvent) => void): () => void {
  return api.transport.subscribe(listener);
}

let started = false;
/** Start listening; `generation` increases on every (re)connection so views re-sync from disk. */
export function startLive(): void {
  if (started) return;
  started = true;
  api.transport.subscribe(() => {});
  api.transport.onConnection?.((state) => {
    if (state === 'open' && connection.state !== 'open') connection.generation++;
    connection.state = state;
  });
}

/** Run `fn` at most once per `ms`, always ending with a call after the last trigger. */
export function coalesce(fn: () => Promise<void>, ms = 150): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running = false;
  let again = false;
  const run = async () => {
    timer = undefined;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await fn();
    } finally {
      running = false;
      if (again) {
        again = false;
        trigger();
      }
    }
  };
  const trigger = () => {
    if (!timer) timer = setTimeout(run, ms);
  };
  return trigger;
}

/**
 * Call `reload` after every reconnection (not the first connection): the server may have
 * restarted or the network dropped, so a view re-reads what it shows. Call during component init.
 */
export function reloadOnReconnect(reload: () => void): void {
  let seenGeneration = connection.generation;
  $effect(() => {
    const g = connection.generation;
    if (g !== seenGeneration) {
      const first = seenGeneration === 0;
      seenGeneration = g;
      if (!first) reload();
    }
  });
}
