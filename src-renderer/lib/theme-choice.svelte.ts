/**
 * Which theme is in effect: the person's choice (the ◐ button, kept in localStorage) or, for
 * 'system', the OS preference (in Electron, View → Theme sets that). The stylesheet follows
 * `data-theme` on <html> by itself (lib/theme.ts); charts drawn from geometry need the name:
 * `screenChartTheme(effectiveTheme())`, which is reactive.
 */
import type { ThemeName } from '../../src-main/common/palette.ts';

export type ThemeChoice = 'system' | ThemeName;

const STORAGE_KEY = 'motlab-theme';
const darkQuery = window.matchMedia('(prefers-color-scheme: dark)');
const stored = localStorage.getItem(STORAGE_KEY);

export const theme = $state<{ choice: ThemeChoice; osDark: boolean }>({
  choice: stored === 'light' || stored === 'dark' ? stored : 'system',
  osDark: darkQuery.matches,
});
darkQuery.addEventListener('change', (event) => (theme.osDark = event.matches));

/** 'light' or 'dark', whichever the page shows now. */
export function effectiveTheme(): ThemeName {
  return theme.choice === 'system' ? (theme.osDark ? 'dark' : 'light') : theme.choice;
}

export function chooseTheme(choice: ThemeChoice): void {
  theme.choice = choice;
  applyChoice();
}

function applyChoice(): void {
  if (theme.choice === 'system') document.documentElement.removeAttribute('data-theme');
  else document.documentElement.setAttribute('data-theme', theme.choice);
  localStorage.setItem(STORAGE_KEY, theme.choice);
}
applyChoice();
