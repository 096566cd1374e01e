/**
 * The one typed client. A transport moves (method, input) → Envelope and pushes events; the
 * client turns that into `client.listRuns({})`-style calls. Browser-safe (no Node imports):
 * the renderer uses it with the Electron preload bridge or with fetch + WebSocket, and the
 * tests use it against a real server.
 */
import type { ApiClient, MethodName } from './definition.ts';
import type { ApiErrorShape, ApiEvent, Envelope } from './types.ts';

export type ConnectionState = 'connecting' | 'open' | 'closed';

export interface Transport {
  call(method: MethodName, input: unknown): Promise<Envelope>;
  /** Every pushed event; returns an unsubscribe function. */
  subscribe(listener: (event: ApiEvent) => void): () => void;
  /** Connection changes of the event channel (reconnects re-sync the UI). */
  onConnection?(listener: (state: ConnectionState) => void): () => void;
  close?(): void;
}

export class ApiError extends Error implements ApiErrorShape {
  readonly code: string;
  constructor(shape: ApiErrorShape) {
    super(shape.message);
    this.name = 'ApiError';
    this.code = shape.code;
  }
}

export type MotlabClient = ApiClient & {
  readonly transport: Transport;
};

/** A Proxy: any method name becomes a call through the transport; types come from the definition. */
export function createApiClient(transport: Transport): MotlabClient {
  const cache = new Map<string, (input: unknown) => Promise<unknown>>();
  return new Proxy({} as MotlabClient, {
    get(_target, prop) {
      if (prop === 'transport') return transport;
      if (typeof prop !== 'string' || prop === 'then') return undefined;
      let fn = cache.get(prop);
      if (!fn) {
        fn = async (input: unknown) => {
          const envelope = await transport.call(prop as MethodName, input ?? {});
          if (!envelope.ok) throw new ApiError(envelope.error);
          return envelope.result;
        };
        cache.set(prop, fn);
      }
      return fn;
    },
  });
}

/** What the Electron preload exposes as `window.motlab`. */
export interface MotlabBridge {
  call(method: string, input: unknown): Promise<Envelope>;
  subscribe(listener: (event: ApiEvent) => void): () => void;
}

export function bridgeTransport(bridge: MotlabBridge): Transport {
  return {
    call: (method, input) => bridge.call(method, input),
    subscribe: (listener) => bridge.subscribe(listener),
    onConnection: (listener) => {
      listener('open'); // IPC is always connected
      return () => {};
    },
  };
}

type WebSocketLike = {
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  close(): void;
};

export interface HttpTransportOptions {
  /** e.g. "http://127.0.0.1:8765" or "" for same-origin in a browser. */
  baseUrl: string;
  /** Sent as a header (browsers use the cookie set by `?token=` instead). */
  token?: string;
  fetch?: typeof fetch;
  /** WebSocket constructor (the browser's, or `ws` in Node). */
  WebSocket?: new (url: string, options?: unknown) => WebSocketLike;
  /** Maximum delay between reconnect attempts. */
  maxRetryMs?: number;
}

export const API_PREFIX = '/api/';
export const EVENTS_PATH = '/api/events';
export const TOKEN_HEADER = 'x-motlab-token';

export function httpTransport(options: HttpTransportOptions): Transport {
  const doFetch = options.fetch ?? fetch;
  const listeners = new Set<(event: ApiEvent) => void>();
  const connListeners = new Set<(state: ConnectionState) => void>();
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.token) headers[TOKEN_HEADER] = options.token;
  let socket: WebSocketLike | null = null;
  let closed = false;
  let retry = 250;
  let state: ConnectionState = 'closed';
  let timer: ReturnType<typeof setTimeout> | undefined;

  const setState = (s: ConnectionState) => {
    state = s;
    for (const l of connListeners) l(s);
  };

  const connect = () => {
    const WS = options.WebSocket ?? (globalThis as unknown as { WebSocket: HttpTransportOptions['WebSocket'] }).WebSocket;
    if (!WS || closed) return;
    const base = options.baseUrl || (globalThis as { location?: { origin: string } }).location?.origin || '';
    const url = base.replace(/^http/, 'ws') + EVENTS_PATH;
    setState('connecting');
    const ws = options.token ? new WS(url, { headers: { [TOKEN_HEADER]: options.token } }) : new WS(url);
    socket = ws;
    ws.onopen = () => {
      retry = 250;
      setState('open');
    };
    ws.onmessage = (ev) => {
      let event: ApiEvent;
      try {
        event = JSON.parse(String(ev.data)) as ApiEvent;
      } catch {
        return;
      }
      for (const l of listeners) l(event);
    };
    ws.onerror = () => {};
    ws.onclose = () => {
      socket = null;
      if (closed) return;
      setState('closed');
      timer = setTimeout(() => {
        timer = undefined;
        connect();
      }, retry);
      retry = Math.min(retry * 2, options.maxRetryMs ?? 5000);
    };
  };

  return {
    async call(method, input) {
      let response: Response;
      try {
        response = await doFetch(`${options.baseUrl}${API_PREFIX}${method}`, {
          method: 'POST',
          headers,
          body: JSON.stringify(input ?? {}),
          credentials: 'same-origin',
        });
      } catch (error) {
        return { ok: false, error: { code: 'unavailable', message: `The lab server is not reachable (${(error as Error).message})` } };
      }
      const text = await response.text();
      try {
        return JSON.parse(text) as Envelope;
      } catch {
        return { ok: false, error: { code: 'internal', message: `HTTP ${response.status}: ${text.slice(0, 200)}` } };
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      if (!socket && !closed && !timer) connect();
      return () => listeners.delete(listener);
    },
    onConnection(listener) {
      connListeners.add(listener);
      listener(state);
      return () => connListeners.delete(listener);
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      socket?.close();
    },
  };
}
