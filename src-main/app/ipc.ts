/**
 * The Electron transport: one `ipcMain.handle` channel for calls (validated by the same
 * dispatch as the server) and one push channel for events. Calls are only accepted from our
 * own page (file:// under the app's renderer folder), never from another frame or origin.
 */
import type { IpcMain, IpcMainInvokeEvent, WebContents } from 'electron';
import { dispatch } from '../api/dispatch.ts';
import type { MotlabApi } from '../api/impl.ts';
import type { Envelope } from '../common/api/types.ts';

export const IPC_CALL = 'motlab:call';
export const IPC_EVENT = 'motlab:event';

export function registerIpc(
  ipcMain: IpcMain,
  api: MotlabApi,
  isTrustedUrl: (url: string) => boolean,
  targets: () => WebContents[],
): () => void {
  ipcMain.handle(IPC_CALL, async (event: IpcMainInvokeEvent, method: unknown, input: unknown): Promise<Envelope> => {
    const url = event.senderFrame?.url ?? '';
    // Only the top frame of our own page (a sub-frame has a parent).
    if (!isTrustedUrl(url) || !event.senderFrame || event.senderFrame.parent !== null)
      return { ok: false, error: { code: 'unauthorized', message: `Calls from ${url || 'an unknown frame'} are not allowed` } };
    return dispatch(api.handlers, String(method), input);
  });
  const unsubscribe = api.subscribe((apiEvent) => {
    for (const wc of targets()) if (!wc.isDestroyed()) wc.send(IPC_EVENT, apiEvent);
  });
  return () => {
    ipcMain.removeHandler(IPC_CALL);
    unsubscribe();
  };
}
