/**
 * The renderer build (src-renderer → dist-renderer). Relative asset paths, so the same files
 * load from `motlab serve` and from file:// in Electron. The Content-Security-Policy comes from
 * src-main/common/csp.ts, the one definition the server and the Electron tests also use; the
 * theme's CSS variables from src-main/common/palette.ts (src-renderer/lib/theme.ts).
 */
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig, type Plugin } from 'vite';
import { contentSecurityPolicy } from './src-main/common/csp.ts';
import { themeStylesheet } from './src-renderer/lib/theme.ts';

function cspMeta(): Plugin {
  return {
    name: 'motlab-csp',
    transformIndexHtml: {
      order: 'post',
      handler: (html) =>
        html.replace('<!--CSP-->', `<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy('meta')}" />`),
    },
  };
}

/** `import 'virtual:motlab-theme.css'`: the theme variables, generated from the palette module. */
function themeCss(): Plugin {
  const id = 'virtual:motlab-theme.css';
  // Resolved to a .css id without the \0 prefix, so Vite's CSS pipeline bundles it into the page's CSS file.
  const resolved = '/@motlab/theme.css';
  return {
    name: 'motlab-theme',
    resolveId: (source) => (source === id ? resolved : undefined),
    load: (loaded) => (loaded === resolved ? themeStylesheet() : undefined),
  };
}

export default defineConfig({
  root: 'src-renderer',
  base: './',
  plugins: [svelte(), cspMeta(), themeCss()],
  build: {
    outDir: '../dist-renderer',
    emptyOutDir: true,
    // No inline <script>/<style>, no data: URLs for fonts: everything is a file the CSP allows.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: 'es2022',
    chunkSizeWarningLimit: 1500,
    rolldownOptions: { checks: { pluginTimings: false } },
  },
  server: { port: 5173, strictPort: true },
});
