/**
 * Speech synthesis for captions: espeak-ng writes a 22050 Hz 16-bit WAV, which is resampled
 * to 16 kHz in TypeScript (audio.ts), so no sox version can change the numbers. The builder
 * runs a few at once and synthesises each distinct (text, voice, speed) once.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MotlabError } from '../../common/errors.ts';
import { parseWav, resample } from './audio.ts';

/** Voices shipped with Debian's espeak-ng-data (the mbrola ones need extra packages). */
export const VOICES = [
  'en-us',
  'en-gb',
  'en-gb-scotland',
  'en-029',
  'en-us-nyc',
  'en-gb-x-rp',
  'en-us+f3',
  'en+f2',
  'en-us+m3',
  'en+m5',
] as const;
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
  return spawnSync('espeak-ng', ['--version'], { encoding: 'utf8' })
    .stdout.trim()
    .split(/\s+Data at:/)[0];
}

export interface SpeechJob {
  text: string;
  voice: string;
  speed: number;
}

/**
 * One long-lived `sh` per lane that runs espeak-ng for each job line it reads and writes the
 * WAV to a temp file. Forking from that small shell instead of from node (whose heap holds the
 * features) saves most of the per-utterance process cost.
 */
class EspeakWorker {
  private proc: ChildProcessWithoutNullStreams;
  private pending: { resolve: (rc: number) => void; reject: (e: Error) => void } | undefined;
  private out = '';
  private err = '';

  constructor(readonly dir: string) {
    const script =
      'T=$(printf "\\t"); while IFS="$T" read -r id voice speed text; do ' +
      'espeak-ng -w "$0/$id.wav" -v "$voice" -s "$speed" "$text"; echo "$id $?"; done';
    this.proc = spawn('sh', ['-c', script, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (c: Buffer) => {
      this.out += c.toString();
      const nl = this.out.indexOf('\n');
      if (nl < 0 || !this.pending) return;
      const rc = Number(this.out.slice(0, nl).split(' ')[1]);
      this.out = this.out.slice(nl + 1);
      const p = this.pending;
      this.pending = undefined;
      p.resolve(rc);
    });
    this.proc.stderr.on('data', (c: Buffer) => (this.err = (this.err + c.toString()).slice(-2000)));
    const died = (why: string): void => this.pending?.reject(new Error(`the espeak-ng worker shell ${why}`));
    this.proc.on('error', (e) => died(e.message));
    this.proc.on('close', (code) => died(`exited (${code})`));
    this.proc.stdin.on('error', () => undefined); // reported through 'close'
  }

  async speak(id: number, job: SpeechJob): Promise<Buffer> {
    if (/[\t\n\r]/.test(job.text) || /^-/.test(job.text)) throw new Error(`text cannot be spoken safely: ${JSON.stringify(job.text)}`);
    this.err = '';
    const rc = await new Promise<number>((resolve, reject) => {
      this.pending = { resolve, reject };
      this.proc.stdin.write(`${id}\t${job.voice}\t${job.speed}\t${job.text}\n`);
    });
    const file = join(this.dir, `${id}.wav`);
    if (rc !== 0) throw new Error(`espeak-ng exited with ${rc}: ${this.err.trim()}`);
    const wav = readFileSync(file);
    unlinkSync(file);
    return wav;
  }

  close(): void {
    this.proc.removeAllListeners('close');
    this.proc.stdin.end();
  }
}

/**
 * Speaks every job with espeak-ng (at most `concurrency` at once), resamples to `sampleRate`
 * and hands each waveform to `consume`; returns the consumed values in job order.
 */
export async function synthesizeMany<R>(
  jobs: readonly SpeechJob[],
  concurrency: number,
  sampleRate: number,
  consume: (audio: Float32Array, index: number) => R,
): Promise<R[]> {
  const dir = mkdtempSync(join(tmpdir(), 'motlab-espeak-'));
  const workers = Array.from({ length: Math.max(1, Math.min(concurrency, jobs.length)) }, () => new EspeakWorker(dir));
  const results = new Array<R>(jobs.length);
  let next = 0;
  try {
    await Promise.all(
      workers.map(async (w) => {
        while (next < jobs.length) {
          const i = next++;
          const job = jobs[i];
          let wav: Buffer;
          try {
            wav = await w.speak(i, job);
          } catch (e) {
            const why = e instanceof Error ? e.message : String(e);
            throw new MotlabError('internal', `espeak-ng could not speak "${job.text}" (voice ${job.voice}, ${job.speed} wpm): ${why}`);
          }
          const parsed = parseWav(wav);
          results[i] = consume(resample(parsed.samples, parsed.sampleRate, sampleRate), i);
        }
      }),
    );
  } finally {
    next = jobs.length; // stop the other lanes after a failure
    for (const w of workers) w.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}
