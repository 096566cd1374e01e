/**
 * `motlab torch-command …`: the exact `torchrun` command line and the files to copy, for a
 * cluster the lab cannot reach (python/motlab_torch/command.py prints the plan; this runs it with
 * the lab's copy of the package). The run folder synced back opens in the lab and updates live.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { MotlabError } from '../../common/errors.ts';
import { PYTHON_ENV, torchPackageRoot } from '../../runs/torch.ts';

const HELP = `motlab torch-command --config <preset|file.json> [--size S] --data DIR [--name RUN]
    [--nnodes N] [--nproc-per-node P] [--master-addr HOST] [--master-port PORT] [--device cuda|cpu|mps|auto]
    [--remote-root DIR] [--host HOST] [--steps N] [--checkpoint-every N] [--eval-every N] [--seed N]
    [--resume RUNDIR] [--json] [--python PATH]

Prints the files to copy to the cluster (the PyTorch trainer, the dataset, the config; with
--resume the run folder), the torchrun command to start on each node, and the rsync that brings
the run folder back into the lab (it opens there and updates live while it is synced). Nothing
is run. Needs a local Python 3 (not PyTorch): --python PATH, else $${PYTHON_ENV}, else python3.`;

export async function runTorchCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(HELP);
    return 0;
  }
  const args = [...argv];
  let python = process.env[PYTHON_ENV] ?? 'python3';
  const at = args.findIndex((a) => a === '--python' || a.startsWith('--python='));
  if (at >= 0) {
    const inline = args[at].startsWith('--python=') ? args[at].slice('--python='.length) : undefined;
    const value = inline ?? args[at + 1];
    if (!value) throw new MotlabError('invalid_config', '--python needs a path');
    python = value;
    args.splice(at, inline !== undefined ? 1 : 2);
  }
  const root = torchPackageRoot();
  const env = { ...process.env, PYTHONPATH: [root, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter) };
  const child = spawn(python, ['-m', 'motlab_torch.command', ...args], { env, stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.on('error', (e) =>
      reject(
        new MotlabError('engine_unavailable', `cannot run ${python} (${e.message}); name a Python 3 with --python PATH or $${PYTHON_ENV}`),
      ),
    );
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}
