/**
 * The font every exported figure uses: DejaVu Sans, shipped in assets/fonts (with its license),
 * embedded in PDFs and used by resvg for PNGs, so a figure is the same on every machine.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MotlabError } from '../common/errors.ts';

export const FIGURE_FONT_FILE_NAMES = { regular: 'DejaVuSans.ttf', bold: 'DejaVuSans-Bold.ttf' } as const;

export interface FigureFontFiles {
  regular: string;
  bold: string;
}

/** This module's folder, in the ES module (source, CLI bundle) and in the CommonJS bundle (Electron main). */
function hereDir(): string {
  return typeof __dirname === 'string' ? __dirname : path.dirname(fileURLToPath(import.meta.url));
}

let cachedFiles: FigureFontFiles | undefined;

/**
 * In the packaged app the fonts sit in app.asar and are also unpacked beside it (electron.config.ts
 * asarUnpack): resvg is native code and reads files itself, so it needs the unpacked copy.
 */
function unpacked(file: string): string {
  const marker = `.asar${path.sep}`;
  const i = file.indexOf(marker);
  if (i < 0) return file;
  const outside = `${file.slice(0, i)}.asar.unpacked${path.sep}${file.slice(i + marker.length)}`;
  return existsSync(outside) ? outside : file;
}

/** Paths of the shipped font files: the nearest `assets/fonts` above this file (source or bundle). */
export function figureFontFiles(): FigureFontFiles {
  if (cachedFiles) return cachedFiles;
  let dir = hereDir();
  for (;;) {
    const candidate = path.join(dir, 'assets', 'fonts');
    const regular = path.join(candidate, FIGURE_FONT_FILE_NAMES.regular);
    const bold = path.join(candidate, FIGURE_FONT_FILE_NAMES.bold);
    if (existsSync(regular) && existsSync(bold)) return (cachedFiles = { regular: unpacked(regular), bold: unpacked(bold) });
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new MotlabError(
        'not_found',
        `the figure font (assets/fonts/${FIGURE_FONT_FILE_NAMES.regular}, ${FIGURE_FONT_FILE_NAMES.bold}) was not found above ${hereDir()}`,
      );
    }
    dir = parent;
  }
}

let cachedBytes: { regular: Buffer; bold: Buffer } | undefined;

/** The font files' bytes, read once per process. */
export function figureFontBytes(): { regular: Buffer; bold: Buffer } {
  if (!cachedBytes) {
    const files = figureFontFiles();
    cachedBytes = { regular: readFileSync(files.regular), bold: readFileSync(files.bold) };
  }
  return cachedBytes;
}
