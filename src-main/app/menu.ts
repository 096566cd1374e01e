/** The native menu: Open Workspace…, Open Checkpoint…, Export…, Quit, View → Theme. Actions live in main.ts. */
import type { MenuItemConstructorOptions } from 'electron';

export interface MenuActions {
  openWorkspace(): void;
  openCheckpoint(): void;
  exportMetrics(): void;
  showWorkspaceFolder(): void;
  setTheme(theme: 'system' | 'light' | 'dark'): void;
  currentTheme(): 'system' | 'light' | 'dark';
}

export function menuTemplate(actions: MenuActions, isMac: boolean): MenuItemConstructorOptions[] {
  const theme = (value: 'system' | 'light' | 'dark', label: string): MenuItemConstructorOptions => ({
    label,
    type: 'radio',
    checked: actions.currentTheme() === value,
    click: () => actions.setTheme(value),
  });
  return [
    ...(isMac ? [{ role: 'appMenu' as const }] : []),
    {
      label: 'File',
      submenu: [
        { label: 'Open Workspace…', accelerator: 'CmdOrCtrl+O', click: () => actions.openWorkspace() },
        { label: 'Open Checkpoint…', click: () => actions.openCheckpoint() },
        { label: 'Show Workspace Folder', click: () => actions.showWorkspaceFolder() },
        { type: 'separator' },
        { label: 'Export Run Metrics…', accelerator: 'CmdOrCtrl+E', click: () => actions.exportMetrics() },
        { type: 'separator' },
        isMac ? { role: 'close' } : { role: 'quit' },
      ],
    },
    { role: 'editMenu' },
    {
      label: 'View',
      submenu: [
        { label: 'Theme', submenu: [theme('system', 'Follow System'), theme('light', 'Light'), theme('dark', 'Dark')] },
        { type: 'separator' },
        { role: 'reload' },
        { role: 'toggleDevTools' },
        { type: 'separator' },
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        { role: 'togglefullscreen' },
      ],
    },
    { role: 'windowMenu' },
  ];
}
