// Preloaded into a `motlab` child (node --import): prints the process's peak resident memory
// (VmHWM, Linux) on stderr at exit, for tests and benchmarks that bound memory.
import { readFileSync } from 'node:fs';

process.on('exit', () => {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) process.stderr.write(`peak-rss-kib ${m[1]}\n`);
  } catch {
    // not Linux: no measurement
  }
});
