/**
 * The PyTorch snippet of docs/analysis-pca.md, run as written (its ```python blocks, in order)
 * by Debian's python3-torch on a small model, then read back with readActivations. The
 * expected features come from running the model's blocks by hand in the same script, not from
 * the hooks; the F16/BF16 variants are compared with torch's own rounding.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readActivations } from '../../src-main/analysis/pca/activations.ts';
import { PYTHON, skipUnlessPython } from './python.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'motlab-snippet-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function pythonBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```python\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

/** What the README asks the user to define: model, blocks, batches. */
const BEFORE = `
import torch
torch.manual_seed(0)
torch.set_num_threads(1)

class Block(torch.nn.Module):
    """Returns a tuple, as Hugging Face decoder layers do."""
    def __init__(self, d):
        super().__init__()
        self.mlp = torch.nn.Sequential(torch.nn.LayerNorm(d), torch.nn.Linear(d, 2 * d), torch.nn.GELU(), torch.nn.Linear(2 * d, d))
    def forward(self, h):
        return (h + self.mlp(h), None)

class TinyModel(torch.nn.Module):
    def __init__(self, vocab=40, d=6, layers=3):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, d)
        self.blocks = torch.nn.ModuleList([Block(d) for _ in range(layers)])
    def forward(self, ids):
        h = self.embed(ids)
        for block in self.blocks:
            h = block(h)[0]
        return h

model = TinyModel().eval()
blocks = model.blocks
batches = []
for _ in range(2):
    ids = torch.randint(0, 40, (2, 8))
    batches.append((ids, ids // 14))  # modality 0, 1, 2 by token range
`;

/** Independent expected values: the blocks run by hand, and torch's own F16/BF16 rounding. */
const AFTER = `
expected = {l: [] for l in range(3)}
with torch.no_grad():
    for ids, _ in batches:
        h = model.embed(ids)
        for l, block in enumerate(model.blocks):
            h = block(h)[0]
            expected[l].append(h.reshape(-1, 6))
expected = {l: torch.cat(rows) for l, rows in expected.items()}
save_activations("f16.safetensors", {0: expected[0], 2: expected[2]}, torch.cat([m for _, m in batches]),
                 modalities=("a", "b", "c"), dtype="F16")
save_activations("bf16.safetensors", {1: expected[1]}, torch.cat([m for _, m in batches]), dtype="BF16")
print(json.dumps({
    "f32": {l: e.reshape(-1).tolist() for l, e in expected.items()},
    "f16": {l: expected[l].half().float().reshape(-1).tolist() for l in (0, 2)},
    "bf16": expected[1].bfloat16().float().reshape(-1).tolist(),
    "modality": torch.cat([m for _, m in batches]).reshape(-1).tolist(),
    "token": torch.cat([ids for ids, _ in batches]).reshape(-1).tolist(),
}))
`;

test(
  'the README’s PyTorch hook snippet writes a file the reader accepts, with the right features',
  { skip: skipUnlessPython('numpy, torch', 'python3-torch') },
  async () => {
    const blocks = pythonBlocks(readFileSync(path.join(REPO, 'docs', 'analysis-pca.md'), 'utf8'));
    assert.equal(blocks.length, 2, 'the snippet is two python blocks: the writer, then the hooks');
    const script = [BEFORE, ...blocks, AFTER].join('\n');
    const r = spawnSync(PYTHON, ['-c', script], { cwd: dir, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    assert.equal(r.status, 0, r.stderr);
    const expected = JSON.parse(r.stdout) as {
      f32: Record<string, number[]>;
      f16: Record<string, number[]>;
      bf16: number[];
      modality: number[];
      token: number[];
    };

    const a = await readActivations(path.join(dir, 'activations.safetensors'));
    assert.equal(a.n, 32);
    assert.deepEqual(a.modalities, ['text', 'image', 'speech']);
    assert.deepEqual(Array.from(a.modality), expected.modality);
    assert.deepEqual(Array.from(a.token!), expected.token);
    assert.deepEqual(
      Array.from(a.position!),
      [...Array(4)].flatMap(() => [0, 1, 2, 3, 4, 5, 6, 7]),
    );
    assert.deepEqual(
      a.layers.map((l) => [l.layer, l.dtype, l.d]),
      [
        [0, 'F32', 6],
        [1, 'F32', 6],
        [2, 'F32', 6],
      ],
    );
    for (const layer of a.layers) {
      // Hooks and the hand-run blocks compute the same float32 ops: equal up to float32 rounding.
      const want = expected.f32[String(layer.layer)];
      want.forEach((v, i) => assert.ok(Math.abs(layer.data[i] - v) <= 1e-6 * (1 + Math.abs(v)), `layer ${layer.layer} value ${i}`));
    }

    const f16 = await readActivations(path.join(dir, 'f16.safetensors'));
    assert.deepEqual(f16.modalities, ['a', 'b', 'c']);
    assert.deepEqual(
      f16.layers.map((l) => [l.layer, l.dtype]),
      [
        [0, 'F16'],
        [2, 'F16'],
      ],
    );
    for (const layer of f16.layers) assert.deepEqual(Array.from(layer.data), expected.f16[String(layer.layer)]);
    assert.equal(f16.position, null);
    const bf16 = await readActivations(path.join(dir, 'bf16.safetensors'));
    assert.deepEqual(
      bf16.layers.map((l) => [l.layer, l.dtype]),
      [[1, 'BF16']],
    );
    assert.deepEqual(Array.from(bf16.layers[0].data), expected.bf16);
  },
);
