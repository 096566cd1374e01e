/** Hash routes (#/, #/new, #/run/<name>): work from file:// in Electron and from the server. */
export type Route = { page: 'runs' } | { page: 'new' } | { page: 'run'; name: string };

function parse(hash: string): Route {
  const path = hash.replace(/^#/, '');
  if (path === '/new') return { page: 'new' };
  const m = /^\/run\/(.+)$/.exec(path);
  if (m) return { page: 'run', name: decodeURIComponent(m[1]) };
  return { page: 'runs' };
}

export const router = $state<{ route: Route }>({ route: parse(location.hash) });

window.addEventListener('hashchange', () => {
  router.route = parse(location.hash);
});

export function go(route: Route): void {
  location.hash = route.page === 'run' ? `#/run/${encodeURIComponent(route.name)}` : route.page === 'new' ? '#/new' : '#/';
}
