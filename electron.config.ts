/**
 * electron-builder configuration (`npm run dist` builds for the current platform).
 * The app ships the built main process (dist-main), the built renderer (dist-renderer), the
 * builtin datasets, the fonts figures embed (assets/fonts) and the production node_modules; native TensorFlow.js modules and the wasm
 * backend's binaries are unpacked from the asar archive, since they are loaded from disk.
 */
import type { Configuration } from 'electron-builder';

const config: Configuration = {
  appId: 'org.motlab.lab',
  productName: 'MoT Lab',
  copyright: 'MoT Lab contributors, MIT license',
  directories: { output: 'dist', buildResources: 'assets/icons' },
  files: [
    'package.json',
    'dist-main/**/*',
    'dist-renderer/**/*',
    'assets/datasets/**/*',
    'assets/fonts/**',
    'assets/icons/icon.png',
    '!**/*.map',
  ],
  extraMetadata: { main: 'dist-main/electron-main.cjs' },
  asar: true,
  asarUnpack: [
    'node_modules/@tensorflow/tfjs-node/**/*',
    'node_modules/@tensorflow/tfjs-node-gpu/**/*',
    'node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm',
    // resvg (native) reads the figure fonts from disk.
    'assets/fonts/**',
    '**/*.node',
  ],
  linux: {
    target: ['AppImage', 'deb'],
    icon: 'assets/icons/icon.png',
    category: 'Science',
    synopsis: 'Train and compare Mixture-of-Transformers models',
  },
  deb: { priority: 'optional' },
  mac: {
    target: ['dmg'],
    icon: 'assets/icons/icon.png',
    category: 'public.app-category.developer-tools',
    hardenedRuntime: true,
  },
  win: {
    target: ['nsis'],
    icon: 'assets/icons/icon.ico',
  },
  nsis: { oneClick: false, allowToChangeInstallationDirectory: true, perMachine: false },
};

export default config;
