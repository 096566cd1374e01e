/**
 * End to end in Debian's Chromium: Open checkpoint… on the Runs page imports a checkpoint with
 * the MoT playbook's tensor names (a tiny mot run trained here by the real `motlab train`,
 * renamed, no lab metadata) and lands on the new run, marked imported, whose Towers view draws
 * tower drift for its three towers. Screenshots in test-results/e2e/. Setup: ./harness.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { decodeSafetensors, encodeSafetensors, type TensorIn } from '../../src-main/checkpoints/safetensors.ts';
import { motlab } from '../training/helpers.ts';
import { playbookNameOf } from '../importers/synthetic.ts';
import { missing, SHOTS, useServerAndBrowser } from './harness.ts';

const e2e = useServerAndBrowser();
let playbookFile = '';

before(() => {
  if (missing) return;
  const incoming = join(e2e.workspace, 'incoming');
  mkdirSync(incoming, { recursive: true });
  const trained = join(incoming, 'trained');
  const r = motlab([
    'train',
    '--config',
    'mot',
    '--size',
    'tiny',
    '--out',
    trained,
    '--steps',
    '2',
    '--checkpoint-every',
    '2',
    '--eval-every',
    '2',
    '--engine',
    'wasm',
  ]);
  assert.equal(r.status, 0, r.stderr);
  const file = join(trained, 'checkpoints', 'step-000002', 'model.safetensors');
  const { tensors } = decodeSafetensors(readFileSync(file), file);
  const renamed: Record<string, TensorIn> = {};
  for (const [name, t] of Object.entries(tensors)) renamed[playbookNameOf(name)] = { shape: t.shape, data: t.data };
  playbookFile = join(incoming, 'mot-playbook.safetensors');
  writeFileSync(playbookFile, encodeSafetensors(renamed)); // no metadata: only the names and shapes speak
});

test(
  'Open checkpoint… imports a playbook file and shows the run with its towers',
  { skip: missing && 'no Chromium', timeout: 240_000 },
  async () => {
    const page = await e2e.newPage('light');
    await page.goto(e2e.url);
    await page.getByTestId('open-checkpoint').click();
    const dialog = page.getByTestId('open-checkpoint-dialog');
    await dialog.waitFor();
    await page.getByTestId('checkpoint-path').fill(playbookFile);
    await page.getByTestId('checkpoint-size').selectOption('tiny');
    await page.screenshot({ path: join(SHOTS, '50-open-checkpoint.png') });
    await page.getByTestId('checkpoint-import').click();
    await page.waitForURL(/#\/run\/mot-playbook-imported$/, { timeout: 60_000 });
    assert.match(
      (await page.getByTestId('run-message').textContent()) ?? '',
      /Imported from .*mot-playbook\.safetensors \(playbook names\)/,
    );

    // Listed as an imported MoT run.
    await page.goto(e2e.url);
    const row = page.locator('[data-run="mot-playbook-imported"]');
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /MoT.*imported/);

    // Its towers: attention weights, FFN weights and FFN outputs, 3 tower pairs each, at its one checkpoint.
    await page.goto(`${e2e.url}#/run/mot-playbook-imported`);
    await page.getByTestId('link-towers').click();
    await page.getByTestId('chart-drift').first().waitFor({ timeout: 120_000 });
    assert.equal(await page.getByTestId('chart-drift').count(), 9);
    assert.equal(await page.locator('[data-testid="tokens-table"] tbody tr').count(), 9);
    await page.screenshot({ path: join(SHOTS, '51-imported-towers.png'), fullPage: true });

    // A wrong path is refused in the dialog with the server's message.
    await page.goto(e2e.url);
    await page.getByTestId('open-checkpoint').click();
    await page.getByTestId('checkpoint-path').fill(join(e2e.workspace, 'incoming', 'nothing.safetensors'));
    await page.getByTestId('checkpoint-import').click();
    await page.getByTestId('checkpoint-error').waitFor();
    assert.match((await page.getByTestId('checkpoint-error').textContent()) ?? '', /nothing\.safetensors.*no such file or folder/);
    await page.context().close();
    assert.deepEqual(
      e2e.consoleErrors.filter((e) => !/status of 4\d\d/.test(e)),
      [],
    );
  },
);
