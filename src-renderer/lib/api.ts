/**
 * The renderer's API client: `window.motlab` (Electron preload) when present, otherwise the
 * server that served this page (fetch + WebSocket, same origin, token cookie).
 */
import { bridgeTransport, createApiClient, httpTransport, type MotlabBridge, type MotlabClient } from '../../src-main/common/api/client.ts';

declare global {
  interface Window {
    motlab?: MotlabBridge;
  }
}

export const inElectron = typeof window !== 'undefined' && window.motlab !== undefined;

export const api: MotlabClient = createApiClient(window.motlab ? bridgeTransport(window.motlab) : httpTransport({ baseUrl: '' }));

export { ApiError } from '../../src-main/common/api/client.ts';
