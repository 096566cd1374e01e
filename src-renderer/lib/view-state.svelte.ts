/**
 * The plumbing every analysis view shares (Losses, Step matching, and the PCA, routing and towers
 * views):
 * - useViewState: the view's state (a schema of src-main/common/views.ts) lives in the address
 *   (#/<kind>?<query>, so it can be bookmarked and linked to) and in localStorage (so a relaunch
 *   opens the view as it was left); a state from either is validated by the schema.
 * - saveViewFile / openViewFile: the state as a small `<kind>.view.json` (the figure exporter's
 *   sidecar `view` is the same object, and is accepted too).
 * - LatestRequest: the one data request a view waits for: a newer request supersedes the older,
 *   Escape cancels it (the view keeps what it shows), errors are kept for a Note.
 */
import type { z } from 'zod';
import { describeZodIssues } from '../../src-main/common/validate.ts';
import { VIEW_SCHEMAS, viewStateSchema, type ViewKind, type ViewState } from '../../src-main/common/views.ts';
import { downloadText } from './download.ts';
import { go, replaceRoute, router, type Route } from './router.svelte.ts';
import { decodeViewQuery, encodeViewQuery } from './view-query.ts';

type ObjectSchema = z.ZodObject<z.ZodRawShape>;

const STORAGE_PREFIX = 'motlab-view:';

/** The route (address) of a view state. */
export function viewRoute(state: ViewState): Route {
  return { page: 'view', kind: state.kind, query: encodeViewQuery(VIEW_SCHEMAS[state.kind], state) };
}

/**
 * The address of view `kind` showing `patch` (runs chosen elsewhere, e.g. on the Runs page), with
 * the rest of the settings as the view was last left; null when that makes no valid state.
 */
export function viewLink<K extends ViewKind>(kind: K, patch: Partial<z.input<(typeof VIEW_SCHEMAS)[K]>>): Route | null {
  const schema = VIEW_SCHEMAS[kind] as ObjectSchema;
  let saved: Record<string, unknown> = {};
  try {
    const parsed = schema.safeParse(JSON.parse(localStorage.getItem(STORAGE_PREFIX + kind) ?? 'null'));
    if (parsed.success) saved = parsed.data;
  } catch {
    // nothing saved
  }
  const state = schema.safeParse({ ...saved, ...patch, kind });
  return state.success ? viewRoute(state.data as ViewState) : null;
}

export interface ViewStore<S> {
  /** The current state; null until one is known (from the address, the last session, or the view's own default). */
  readonly state: S | null;
  /** Why the address or a saved state could not be used (shown once, then the view goes on). */
  readonly problem: string | null;
  /** Replaces the state (validated; an invalid state is refused with `problem`). */
  set(next: S): boolean;
  /** Changes some fields. */
  update(patch: Partial<S>): boolean;
}

/**
 * The state of the view `kind`, from its address, else from the last session. Call during
 * component initialisation (it follows later address changes: back/forward, links).
 */
export function useViewState<S extends ObjectSchema>(kind: ViewKind, schema: S): ViewStore<z.output<S>> {
  type State = z.output<S>;
  const store = $state<{ state: State | null; problem: string | null }>({ state: null, problem: null });
  let written: string | null = null;
  const storageKey = STORAGE_PREFIX + kind;

  // The address and storage follow the state a moment later: a drag changes the state every frame,
  // and browsers refuse more than ~100 history updates in 10 s.
  let timer: ReturnType<typeof setTimeout> | undefined;
  let unsaved: State | null = null;
  function flush(): void {
    clearTimeout(timer);
    timer = undefined;
    if (!unsaved) return;
    const route = router.route;
    if (route.page === 'view' && route.kind === kind && written !== null && route.query !== written)
      replaceRoute({ page: 'view', kind, query: written });
    try {
      localStorage.setItem(storageKey, JSON.stringify(unsaved));
    } catch {
      // storage full or disabled: the address still holds the state
    }
    unsaved = null;
  }
  function write(state: State): void {
    written = encodeViewQuery(schema, state as Record<string, unknown>);
    unsaved = state;
    timer ??= setTimeout(flush, 250);
  }

  function fromStorage(): State | null {
    const text = localStorage.getItem(storageKey);
    if (!text) return null;
    try {
      const parsed = schema.safeParse(JSON.parse(text));
      if (parsed.success) return parsed.data;
    } catch {
      // not JSON: forget it
    }
    localStorage.removeItem(storageKey);
    return null;
  }

  function read(query: string): void {
    if (query === written) return;
    if (query) {
      const decoded = decodeViewQuery(schema, kind, query);
      if (decoded.ok) {
        store.state = decoded.state;
        store.problem = null;
        write(decoded.state);
        return;
      }
      store.problem = `The address does not describe this view (${decoded.problem}).`;
    }
    const saved = fromStorage();
    if (saved) {
      store.state = saved;
      write(saved);
    }
  }

  $effect(() => {
    const route = router.route;
    if (route.page === 'view' && route.kind === kind) read(route.query);
  });
  $effect(() => flush); // leaving the view saves what it showed

  const set = (next: State): boolean => {
    const parsed = schema.safeParse(next);
    if (!parsed.success) {
      store.problem = describeZodIssues(parsed.error);
      return false;
    }
    store.state = parsed.data;
    store.problem = null;
    write(parsed.data);
    return true;
  };
  return {
    get state() {
      return store.state;
    },
    get problem() {
      return store.problem;
    },
    set,
    update: (patch) => (store.state ? set({ ...store.state, ...patch }) : false),
  };
}

/**
 * Calls `load` whenever `key()` (the view's data request as text; null: nothing to ask yet)
 * changes: at once the first time, then `delayMs` after the last change (a slider or a drag
 * changes it many times a second). Call during component initialisation.
 */
export function loadOnChange(key: () => string | null, load: () => void, delayMs: number): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let last: string | null = null;
  $effect(() => {
    const k = key();
    if (k === null || k === last) return;
    const first = last === null;
    last = k;
    clearTimeout(timer);
    timer = setTimeout(load, first ? 0 : delayMs);
  });
  $effect(() => () => clearTimeout(timer));
}

/** What a choice among `all` kept as "empty = all" shows, in `all`'s order. */
export function shownChoices(all: readonly string[], chosen: readonly string[]): string[] {
  return all.filter((x) => !chosen.length || chosen.includes(x));
}

/**
 * A choice among `all` kept as "empty = all" (the views' modality panels): `item` turned on or
 * off; null when that would leave nothing chosen.
 */
export function toggleChoice(all: readonly string[], chosen: readonly string[], item: string, on: boolean): string[] | null {
  const current = chosen.length ? chosen : all;
  const next = on ? all.filter((x) => x === item || current.includes(x)) : current.filter((x) => x !== item);
  if (next.length === 0) return null;
  return next.length === all.length ? [] : next;
}

/** Downloads the state as `<kind>.view.json`. */
export function saveViewFile(state: ViewState): void {
  downloadText(`${state.kind}.view.json`, 'application/json', JSON.stringify(state, null, 2) + '\n');
}

/** A saved view (or a figure's sidecar, whose `view` it holds), validated; errors name the file. */
export function parseViewFile(text: string, fileName: string): ViewState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${fileName} is not JSON (${(error as Error).message})`);
  }
  if (value && typeof value === 'object' && 'format' in value && (value as { format: unknown }).format === 'motlab-figure')
    value = (value as { view?: unknown }).view;
  const parsed = viewStateSchema.safeParse(value);
  if (!parsed.success) throw new Error(`${fileName} is not a saved view: ${describeZodIssues(parsed.error)}`);
  return parsed.data;
}

/** Opens a saved view: goes to its address (its view reads the state from there). */
export async function openViewFile(file: File): Promise<ViewState> {
  const state = parseViewFile(await file.text(), file.name);
  go(viewRoute(state));
  return state;
}

/**
 * The latest of a view's data requests. `run` starts one (an earlier one still on its way is
 * superseded: its result is dropped); `cancel` (Escape) drops the pending one and keeps what is
 * shown. `pending`, `slow` (pending for a while: say so, and how to cancel) and `error` are reactive.
 */
export class LatestRequest {
  pending = $state(false);
  slow = $state(false);
  error = $state<string | null>(null);
  private generation = 0;
  private slowTimer: ReturnType<typeof setTimeout> | undefined;

  async run<T>(fn: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> {
    const g = ++this.generation;
    this.pending = true;
    clearTimeout(this.slowTimer);
    this.slowTimer = setTimeout(() => {
      if (g === this.generation) this.slow = true;
    }, 400);
    try {
      const value = await fn();
      if (g !== this.generation) return { ok: false };
      this.error = null;
      return { ok: true, value };
    } catch (error) {
      if (g === this.generation) this.error = (error as Error).message;
      return { ok: false };
    } finally {
      if (g === this.generation) this.settle();
    }
  }

  /** Drops the pending request; false when there was none. */
  cancel(): boolean {
    if (!this.pending) return false;
    this.generation++;
    this.settle();
    return true;
  }

  private settle(): void {
    clearTimeout(this.slowTimer);
    this.pending = false;
    this.slow = false;
  }
}
