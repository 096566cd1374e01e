/**
 * `motlab job`: the child process of one job, started by the app or `motlab serve` with an IPC
 * channel (src-main/runs/jobs/). Not for people: the job arrives over the channel.
 */
import { serveJobChild } from '../../runs/jobs/child.ts';
import { JOB_RUNNERS } from '../job-runners.ts';

export async function runJobCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    console.log('motlab job: runs one job for the app or `motlab serve`, which start it (not meant to be run by hand).');
    return 0;
  }
  return serveJobChild(JOB_RUNNERS);
}
