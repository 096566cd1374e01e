/**
 * End to end in Debian's Chromium: Open checkpoint… on the Runs page imports a checkpoint with
 * the MoT playbook's tensor names (a tiny mot run trained here by the real `motlab train`,
 * renamed, no lab metadata) and lands on the new run, marked imported, whose Towers view draws
 * tower drift for its three towers and its weight space (norms, spectra, weight drift); a
 * BAGEL-named file imports weights only, and its Towers view says what needs a forward pass and
 * draws the weight space alone. Light and dark. Screenshots in test-results/e2e/. Setup: ./harness.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { decodeSafetensors, encodeSafetensors, type TensorIn } from '../../src-main/checkpoints/safetensors.ts';
import { trainTiny } from '../training/helpers.ts';
import { bagelTensors, playbookNameOf } from '../importers/synthetic.ts';
import { missing, SHOTS, useServerAndBrowser } from './harness.ts';

const e2e = useServerAndBrowser();
let playbookFile = '';
let bagelFile = '';

before(() => {
  if (missing) return;
  const incoming = join(e2e.workspace, 'incoming');
  mkdirSync(incoming, { recursive: true });
  const trained = join(incoming, 'trained');
  trainTiny(trained, { steps: 2 });
  const file = join(trained, 'checkpoints', 'step-000002', 'model.safetensors');
  const { tensors } = decodeSafetensors(readFileSync(file), file);
  const renamed: Record<string, TensorIn> = {};
  for (const [name, t] of Object.entries(tensors)) renamed[playbookNameOf(name)] = { shape: t.shape, data: t.data };
  playbookFile = join(incoming, 'mot-playbook.safetensors');
  writeFileSync(playbookFile, encodeSafetensors(renamed)); // no metadata: only the names and shapes speak
  bagelFile = join(incoming, 'bagel-ema.safetensors');
  writeFileSync(bagelFile, encodeSafetensors(bagelTensors()));
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
    assert.match((await page.getByTestId('no-grad-norms').textContent()) ?? '', /no training metrics \(its weights were imported/);
    // Its weight space: block norms, a spectrum per tower, weight drift for the 3 tower pairs.
    await page.getByTestId('chart-weight-norms').waitFor({ timeout: 60_000 });
    assert.equal(await page.getByTestId('chart-spectrum').count(), 1);
    assert.equal(await page.getByTestId('chart-weight-drift').count(), 3);
    assert.equal(await page.getByTestId('weights-only-note').count(), 0);
    await page.screenshot({ path: join(SHOTS, '51-imported-towers.png'), fullPage: true });

    // A wrong path is refused in the dialog with the server's message.
    await page.goto(e2e.url);
    await page.getByTestId('open-checkpoint').click();
    await page.getByTestId('checkpoint-path').fill(join(e2e.workspace, 'incoming', 'nothing.safetensors'));
    await page.getByTestId('checkpoint-import').click();
    await page.getByTestId('checkpoint-error').waitFor();
    assert.match((await page.getByTestId('checkpoint-error').textContent()) ?? '', /nothing\.safetensors.*no such file or folder/);
    await page.context().close();

    // Dark: the dialog as the app's File → Open Checkpoint… opens it (the chosen file in the hash,
    // from any page), and the imported run's towers.
    const dark = await e2e.newPage('dark');
    await dark.goto(`${e2e.url}#/datasets`);
    await dark.getByTestId('dataset-picker').waitFor();
    await dark.goto(`${e2e.url}#/?open=checkpoint&path=${encodeURIComponent(playbookFile)}`); // same document: a hash change
    await dark.getByTestId('open-checkpoint-dialog').waitFor();
    assert.equal(await dark.getByTestId('checkpoint-path').inputValue(), playbookFile);
    await dark.getByTestId('checkpoint-size').selectOption('tiny');
    await dark.screenshot({ path: join(SHOTS, '52-open-checkpoint-dark.png') });
    await dark.goto(`${e2e.url}#/run/mot-playbook-imported/towers`);
    await dark.getByTestId('chart-weight-drift').first().waitFor({ timeout: 120_000 });
    await dark.getByTestId('chart-drift').first().waitFor({ timeout: 120_000 });
    await dark.screenshot({ path: join(SHOTS, '53-imported-towers-dark.png'), fullPage: true });
    await dark.context().close();
    assert.deepEqual(
      e2e.consoleErrors.filter((e) => !/status of 4\d\d/.test(e)),
      [],
    );
  },
);

test(
  'Open checkpoint… on a BAGEL file imports weights only; its towers show the weight space and say what needs a forward pass',
  { skip: missing && 'no Chromium', timeout: 240_000 },
  async () => {
    for (const scheme of ['light', 'dark'] as const) {
      const page = await e2e.newPage(scheme);
      await page.goto(e2e.url);
      if (scheme === 'light') {
        await page.getByTestId('open-checkpoint').click();
        await page.getByTestId('checkpoint-path').fill(bagelFile);
        await page.getByTestId('checkpoint-size').selectOption('tiny'); // BAGEL's heads are not in its weights
        await page.getByTestId('checkpoint-import').click();
        await page.waitForURL(/#\/run\/bagel-ema-imported$/, { timeout: 60_000 });
        assert.match((await page.getByTestId('run-message').textContent()) ?? '', /weights only.*grouped-query attention.*evaluation/);
      }
      await page.goto(`${e2e.url}#/run/bagel-ema-imported/towers`);
      const note = page.getByTestId('weights-only-note');
      await note.waitFor({ timeout: 60_000 });
      assert.match(
        (await note.textContent()) ?? '',
        /Imported weights only.*cannot run this model’s forward pass.*evaluation.*activation analyses.*weight norms/,
      );
      // Understanding (text+speech) vs generation (image): one pair; no forward-pass charts.
      await page.getByTestId('chart-weight-drift').first().waitFor({ timeout: 60_000 });
      assert.equal(await page.getByTestId('chart-weight-drift').count(), 1);
      assert.equal(await page.getByTestId('chart-weight-norms').count(), 1);
      assert.equal(await page.getByTestId('chart-drift').count(), 0);
      await page.getByTestId('metric-cosine').click();
      assert.equal(await page.getByTestId('chart-weight-drift').count(), 1);
      await page.screenshot({ path: join(SHOTS, `54-bagel-towers-${scheme}.png`), fullPage: true });
      await page.context().close();
    }
    assert.deepEqual(
      e2e.consoleErrors.filter((e) => !/status of 4\d\d/.test(e)),
      [],
    );
  },
);
