/**
 * Hash routes (#/, #/new, #/run/<name>[/routing|/towers], #/datasets[/<name>], #/pca[/<run>],
 * #/<view kind>[?<view state>]): work from file:// in Electron and from the server. An analysis
 * view's state is its query (lib/view-state.svelte.ts).
 */
import { VIEW_KINDS, type ViewKind } from '../../src-main/common/views.ts';

export type Route =
  | { page: 'runs' }
  | { page: 'new' }
  | { page: 'run'; name: string }
  | { page: 'routing'; name: string }
  | { page: 'towers'; name: string }
  | { page: 'datasets'; name?: string }
  | { page: 'pca'; run?: string }
  | { page: 'view'; kind: ViewKind; query: string };

const isViewKind = (s: string): s is ViewKind => (VIEW_KINDS as readonly string[]).includes(s);

function parse(hash: string): Route {
  const path = hash.replace(/^#/, '');
  if (path === '/new') return { page: 'new' };
  const a = /^\/run\/(.+)\/(routing|towers)$/.exec(path);
  if (a) return { page: a[2] as 'routing' | 'towers', name: decodeURIComponent(a[1]) };
  const m = /^\/run\/(.+)$/.exec(path);
  if (m) return { page: 'run', name: decodeURIComponent(m[1]) };
  const p = /^\/pca(?:\/(.+))?$/.exec(path);
  if (p) return p[1] ? { page: 'pca', run: decodeURIComponent(p[1]) } : { page: 'pca' };
  const d = /^\/datasets(?:\/(.+))?$/.exec(path);
  if (d) return d[1] ? { page: 'datasets', name: decodeURIComponent(d[1]) } : { page: 'datasets' };
  const v = /^\/([a-z-]+)(?:\?(.*))?$/.exec(path);
  if (v && isViewKind(v[1])) return { page: 'view', kind: v[1], query: v[2] ?? '' };
  return { page: 'runs' };
}

export const router = $state<{ route: Route }>({ route: parse(location.hash) });

window.addEventListener('hashchange', () => {
  router.route = parse(location.hash);
});

export function hrefOf(route: Route): string {
  switch (route.page) {
    case 'run':
      return `#/run/${encodeURIComponent(route.name)}`;
    case 'routing':
    case 'towers':
      return `#/run/${encodeURIComponent(route.name)}/${route.page}`;
    case 'new':
      return '#/new';
    case 'datasets':
      return route.name ? `#/datasets/${encodeURIComponent(route.name)}` : '#/datasets';
    case 'pca':
      return route.run ? `#/pca/${encodeURIComponent(route.run)}` : '#/pca';
    case 'view':
      return `#/${route.kind}${route.query ? `?${route.query}` : ''}`;
    default:
      return '#/';
  }
}

export function go(route: Route): void {
  location.hash = hrefOf(route);
}

/** Show `route` in the address bar without a history entry or a hashchange (a view writing its own state). */
export function replaceRoute(route: Route): void {
  history.replaceState(history.state, '', hrefOf(route));
  router.route = route;
}
