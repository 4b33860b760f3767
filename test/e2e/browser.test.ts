/**
 * The browser page (examples/browser) in Debian's Chromium: with the shipped
 * model and with a model fresh from `lip train` + `lip export`, it classifies
 * 100 test images with `lip verify`'s labels and radii (within 1e-5), and its
 * perturbation control shows the guarantee: with random directions no image
 * whose radius exceeds ε changes class; toward the runner-up class the class
 * holds below the radius and changes once ε passes the first flip, which is
 * never below the radius. Saves a screenshot to $LIP_TEST_OUTPUT (default
 * <tmp>/lip-test-output). `npm run test:browser` runs this file alone.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Page } from 'playwright-core';
import { verifyModel } from '@lip/verify';
import { ROOT, withTmpDir } from '@lip/test-support';
import { browserMissing, launchChromium, startDemoServer, testOutputDir } from '@lip/test-support/browser';
import { lip, transcript } from '@lip/test-support/cli';
import { haveFashionMnist } from '@lip/test-support/data';

const SHIPPED = path.join(ROOT, 'models', 'fashion-mnist-ortho.onnx');
const N = 100;
const TOL = 1e-5;

jest.setTimeout(600_000);

interface PageState {
  executionProvider: string;
  results: { label: number; className: string; certifiedRadius: number }[];
  summary: {
    mode: string;
    eps: number;
    certified: number;
    certifiedChanged: number;
    uncertified: number;
    uncertifiedChanged: number;
    selected: { index: number; label: number; radius: number; perturbedLabel: number; flipEps: number | null } | null;
  } | null;
}

type Demo = { ready: Promise<void>; settled(): Promise<void>; state(): PageState; select(i: number): void };

const state = (page: Page): Promise<PageState> => page.evaluate(() => (window as unknown as { lipDemo: Demo }).lipDemo.state());
const settled = (page: Page): Promise<void> => page.evaluate(() => (window as unknown as { lipDemo: Demo }).lipDemo.settled());

/** Moves the ε slider as a user would (an input event), then waits for the page to redraw. */
async function setEps(page: Page, eps: number): Promise<PageState> {
  await page.locator('#eps').fill(String(eps));
  await settled(page);
  return state(page);
}

/** Loads `model` in the page and checks its 100 predictions and radii against lip verify's. */
async function checkPage(model: string, screenshot: string): Promise<{ page: Page; st: PageState; close(): Promise<void> }> {
  const verified = await verifyModel(model, { data: 'fashion-mnist', n: N });
  const server = await startDemoServer({ model, n: N });
  const browser = await launchChromium();
  const close = async (): Promise<void> => {
    await browser.close();
    await server.close();
  };
  try {
    const { page } = browser;
    await page.goto(server.url);
    await page.evaluate(() => (window as unknown as { lipDemo: Demo }).lipDemo.ready);
    const st = await state(page);
    expect(st.executionProvider).toBe('wasm'); // --disable-gpu: no WebGPU adapter
    expect(await page.locator('.card').count()).toBe(N);
    expect(st.results.map((r) => r.label)).toEqual(Array.from(verified.details.predictions));
    const worst = Math.max(...st.results.map((r, i) => Math.abs(r.certifiedRadius - verified.details.certificates[i])));
    expect(worst).toBeLessThanOrEqual(TOL);
    expect(await page.textContent('#status')).toContain(`${N} images`);

    // Random directions: nothing with r > ε moves.
    const eps = [...verified.details.certificates].sort((a, b) => a - b)[N / 2];
    const random = await setEps(page, eps);
    expect(random.summary).toMatchObject({ mode: 'random', certifiedChanged: 0 });
    expect(random.summary!.certified).toBe(st.results.filter((r) => r.certifiedRadius > random.summary!.eps).length);
    expect(random.summary!.certified + random.summary!.uncertified).toBe(N);
    expect(await page.textContent('#summary')).toContain('0 of them changed class (the certificate says none can)');
    expect(browser.errors).toEqual([]);
    await page.screenshot({ path: path.join(testOutputDir(), screenshot), fullPage: true });
    return { page, st, close };
  } catch (err) {
    await close();
    throw err;
  }
}

const skip =
  browserMissing() ?? (haveFashionMnist() ? null : 'skipped: the Fashion-MNIST test split is not on disk (Debian: apt-get install dataset-fashion-mnist)');
if (skip) test('browser page: skipped', () => console.warn(skip));
const run = skip ? test.skip : test;

run('the shipped model: 100 certified predictions, and the perturbation control toward the runner-up class', async () => {
  const { page, st, close } = await checkPage(SHIPPED, 'browser-shipped-model.png');
  try {
    // A correctly classified image with a fair radius, so that ε = 0.99 r is a clear "below".
    const i = st.results.findIndex((r) => r.certifiedRadius > 0.5);
    expect(i).toBeGreaterThanOrEqual(0);
    const r = st.results[i].certifiedRadius;
    await page.evaluate((k) => (window as unknown as { lipDemo: Demo }).lipDemo.select(k), i);
    await page.locator('#mode').selectOption('runner-up');
    await settled(page);
    const below = await setEps(page, 0.99 * r);
    const sel = below.summary!.selected!;
    expect(sel).toMatchObject({ index: i, label: st.results[i].label, perturbedLabel: st.results[i].label });
    expect(sel.flipEps).not.toBeNull();
    expect(sel.flipEps!).toBeGreaterThanOrEqual(r); // the certificate is sound along this direction
    const above = await setEps(page, sel.flipEps! * 1.02);
    expect(above.summary!.selected!.perturbedLabel).not.toBe(st.results[i].label);
    expect(above.summary!.uncertifiedChanged).toBe(1);
    expect(await page.locator('#focus-table').textContent()).toContain('(changed)');
    const shot = path.join(testOutputDir(), 'browser-runner-up.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(fs.statSync(shot).size).toBeGreaterThan(10_000);
  } finally {
    await close();
  }
});

run('a model fresh from lip train + lip export', async () => {
  await withTmpDir('browser-fresh', async (tmp) => {
    const ckpt = path.join(tmp, 'run');
    const t = await lip('train', '--arch', 'seed', '--epochs', '1', '--limit', '512', '--batch-size', '128', '--workers', '1', '--out', ckpt);
    expect({ code: t.code, transcript: transcript(t) }).toMatchObject({ code: 0 });
    const model = path.join(tmp, 'fresh.onnx');
    const e = await lip('export', ckpt, '-o', model);
    expect({ code: e.code, transcript: transcript(e) }).toMatchObject({ code: 0 });
    const { close } = await checkPage(model, 'browser-fresh-model.png');
    await close();
  });
});
