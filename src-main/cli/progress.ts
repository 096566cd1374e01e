/**
 * Training progress for people: a redrawn one-line bar on a terminal, plain lines otherwise
 * (logs, CI, pipes).
 */
import type { RunEvent } from '../runs/run-events.ts';
import type { LossByModality } from '../training/evaluate.ts';

export function formatLosses(loss: LossByModality): string {
  const parts = Object.entries(loss)
    .filter(([k]) => k !== 'all')
    .map(([k, v]) => `${k} ${v === null ? '–' : v.toFixed(3)}`);
  return `loss ${loss.all.toFixed(3)} (${parts.join(', ')})`;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export class ProgressPrinter {
  private readonly tty: boolean;
  private smoothedStepSeconds = NaN;
  private lineOpen = false;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly totalSteps: number,
  ) {
    this.tty = Boolean(out.isTTY);
  }

  private line(text: string): void {
    if (this.lineOpen) this.out.write('\n');
    this.lineOpen = false;
    this.out.write(`${text}\n`);
  }

  note(text: string): void {
    this.line(text);
  }

  onEvent(event: RunEvent): void {
    if (event.type === 'note') this.line(`note: ${event.message}`);
    else if (event.type === 'engine') this.line(`engine: ${event.name} (${event.detail})`);
    else if (event.type === 'workers') this.line(`workers: ${event.count}`);
    else if (event.type === 'status' && event.message) this.line(`${event.status}: ${event.message}`);
    else if (event.type === 'checkpoint') this.tty || this.line(`checkpoint: step ${event.step}`);
    else if (event.type === 'metrics' && event.record.type === 'eval')
      this.line(`eval step ${event.record.step}: val ${formatLosses(event.record.loss)} over ${event.record.windows} windows`);
    else if (event.type === 'metrics' && event.record.type === 'train') {
      const r = event.record;
      const seconds = r.step_ms / 1000;
      this.smoothedStepSeconds = Number.isNaN(this.smoothedStepSeconds) ? seconds : 0.9 * this.smoothedStepSeconds + 0.1 * seconds;
      const eta = formatDuration((this.totalSteps - r.step) * this.smoothedStepSeconds);
      const text = `step ${r.step}/${this.totalSteps} ${formatLosses(r.loss)} ${Math.round(r.tokens_per_s)} tok/s ETA ${eta}`;
      if (this.tty) {
        const width = 24;
        const filled = Math.round((width * r.step) / this.totalSteps);
        this.out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}\x1b[K`);
        this.lineOpen = true;
      } else {
        this.line(text);
      }
    }
  }

  finish(text: string): void {
    this.line(text);
  }
}

/** A redrawn progress line on a terminal (at most a few times a second); nothing otherwise. */
export function progressLine<T>(text: (p: T) => string): ((p: T) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (now - last < 200) return;
    last = now;
    process.stderr.write(
      `\r${text(p)
        .slice(0, (process.stderr.columns || 80) - 1)
        .padEnd((process.stderr.columns || 80) - 1)}`,
    );
  };
}
