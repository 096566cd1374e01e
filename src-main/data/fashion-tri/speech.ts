/**
 * Speech synthesis for captions: `espeak-ng --stdout` (22050 Hz 16-bit WAV), resampled to
 * 16 kHz in TypeScript (audio.ts) — one process per utterance, and no sox whose version could
 * change the numbers. The builder runs a few at once and synthesises each distinct
 * (text, voice, speed) once.
 */
import { spawn, spawnSync } from 'node:child_process';
import { MotlabError } from '../../util/errors.ts';
import { parseWav, resample } from './audio.ts';

/** Voices shipped with Debian's espeak-ng-data (the mbrola ones need extra packages). */
export const VOICES = ['en-us', 'en-gb', 'en-gb-scotland', 'en-029', 'en-us-nyc', 'en-gb-x-rp', 'en-us+f3', 'en+f2', 'en-us+m3', 'en+m5'] as const;
export const SPEEDS = [130, 155, 180] as const;

export function checkSpeechTools(): void {
  const r = spawnSync('espeak-ng', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0)
    throw new MotlabError(
      'not_found',
      `\`espeak-ng\` is not available (${r.error?.message ?? `exit ${r.status}`}); building fashion-tri speech needs it. ` +
        'Install it with `sudo apt-get install espeak-ng`.',
    );
}

/** Is the speech tool chain present? (tests use this to skip loudly) */
export function speechToolsAvailable(): boolean {
  try {
    checkSpeechTools();
    return true;
  } catch {
    return false;
  }
}

/** The espeak-ng version line, recorded in dataset.json (other versions give other audio). */
export function espeakVersion(): string {
  return spawnSync('espeak-ng', ['--version'], { encoding: 'utf8' }).stdout.trim().split(/\s+Data at:/)[0];
}

/** `text` spoken by espeak-ng, resampled to `sampleRate` mono float samples. */
export function synthesize(text: string, voice: string, speed: number, sampleRate: number): Promise<Float32Array> {
  return new Promise((resolve, reject) => {
    const speak = spawn('espeak-ng', ['--stdout', '-v', voice, '-s', String(speed), text], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    const errors: string[] = [];
    speak.stdout.on('data', (c: Buffer) => chunks.push(c));
    speak.stderr.on('data', (c: Buffer) => errors.push(c.toString()));
    const fail = (why: string): void =>
      reject(new MotlabError('internal', `espeak-ng could not speak "${text}" (voice ${voice}, ${speed} wpm): ${why} ${errors.join(' ').trim()}`));
    speak.on('error', (e) => fail(e.message));
    speak.on('close', (code) => {
      if (code !== 0) return fail(`exit ${code}`);
      try {
        const wav = parseWav(Buffer.concat(chunks));
        resolve(resample(wav.samples, wav.sampleRate, sampleRate));
      } catch (e) {
        fail(e instanceof Error ? e.message : String(e));
      }
    });
  });
}

/** Run `work` on every item with at most `limit` in flight; results keep the input order. */
export async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i], i);
    }
  });
  await Promise.all(lanes);
  return results;
}
