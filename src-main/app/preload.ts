/**
 * Runs sandboxed before the page: exposes `window.motlab` = { call, subscribe } and nothing
 * else (no ipcRenderer, no Node). Channel names are repeated here, not imported, so the
 * bundle stays tiny; test/app checks they match ipc.ts.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';

const IPC_CALL = 'motlab:call';
const IPC_EVENT = 'motlab:event';

contextBridge.exposeInMainWorld('motlab', {
  call: (method: string, input: unknown) => ipcRenderer.invoke(IPC_CALL, String(method), input),
  subscribe: (listener: (event: unknown) => void) => {
    const handler = (_event: IpcRendererEvent, payload: unknown) => listener(payload);
    ipcRenderer.on(IPC_EVENT, handler);
    return () => {
      ipcRenderer.removeListener(IPC_EVENT, handler);
    };
  },
});
