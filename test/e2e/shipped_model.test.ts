/**
 * The shipped models in models/: each `<name>.card.json` states figures that
 * the files must reproduce here, and the targets the card claims to meet.
 *
 * - The ONNX file is the one the card names (sha256), and `lip export` of the
 *   shipped tfjs checkpoint writes exactly those bytes: the checkpoint and the
 *   ONNX file are the same model.
 * - `lip verify` on the ONNX file prints the card's accuracy and certified
 *   robust accuracies (onnxruntime on the 10,000 test images; exact).
 * - `lip bound` gives the card's bound, at most the claimed constant 1.
 * - The card's CW run (reference settings: 6 x 8000 steps, recorded by
 *   `tools/model-card.js` from `lip attack --json`) found no adversarial
 *   closer than its certificate, and the certificates are at least 0.6 of
 *   the CW distances (median).
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDirPerSuite } from '@lip/test-support';
import { lip, transcript } from '@lip/test-support/cli';
import { haveFashionMnist } from '@lip/test-support/data';

const MODELS = path.join(__dirname, '..', '..', 'models');
const cards = fs.existsSync(MODELS) ? fs.readdirSync(MODELS).filter((f) => f.endsWith('.card.json')) : [];

interface Card {
  name: string;
  onnx: string;
  onnxSha256: string;
  checkpoint: string;
  architecture: { name: string; layers: string[] };
  training: { command: string; config: { arch: string; epochs: number }; epochs: { epoch: number; val_acc: number }[]; seconds: number };
  results: { images: number; accuracy: number; cra: Record<string, number>; lipschitzClaimed: number; lipschitzBound: number };
  attacks: {
    attack: string;
    params: { steps: number; binarySearchSteps: number };
    images: number;
    found: number;
    violations: number;
    medianCertificateOverDistance: number;
    results?: { certificate: number; distance: number | null }[];
  }[];
  /** The figures the model was trained to meet (minimums), when its card states them (tools/model-card.js --targets). */
  targets?: { accuracy?: number; cra?: Record<string, number>; medianCertificateOverDistance?: number };
}

jest.setTimeout(600_000);

test('models/ holds at least one shipped model with a card', () => {
  expect(cards.length).toBeGreaterThan(0);
});

describe.each(cards)('%s', (cardFile) => {
  const card = JSON.parse(fs.readFileSync(path.join(MODELS, cardFile), 'utf8')) as Card;
  const onnxPath = path.join(MODELS, card.onnx);
  const tmp = tmpDirPerSuite('shipped');

  test('the ONNX file is the one the card names, and exporting the shipped checkpoint writes the same bytes', async () => {
    const bytes = fs.readFileSync(onnxPath);
    expect(crypto.createHash('sha256').update(bytes).digest('hex')).toBe(card.onnxSha256);
    const out = tmp.path('again.onnx');
    const r = await lip('export', path.join(MODELS, card.checkpoint), '-o', out);
    expect(r.code).toBe(0);
    expect(Buffer.compare(fs.readFileSync(out), bytes)).toBe(0);
  });

  test('the card meets the targets: accuracy >= 0.88, CRA(36/255) >= 0.72, CW median certificate/distance >= 0.6, no violation', () => {
    expect(card.results.accuracy).toBeGreaterThanOrEqual(0.88);
    expect(card.results.cra['36/255']).toBeGreaterThanOrEqual(0.72);
    expect(card.results.lipschitzBound).toBeLessThanOrEqual(card.results.lipschitzClaimed);
    const cw = card.attacks.find((a) => a.attack === 'cw')!;
    expect(cw.params).toMatchObject({ steps: 8000, binarySearchSteps: 6 });
    expect(cw.images).toBe(10);
    expect(cw.violations).toBe(0);
    expect(cw.medianCertificateOverDistance).toBeGreaterThanOrEqual(0.6);
    for (const a of card.attacks) expect(a.violations).toBe(0);
    for (const r of cw.results!) if (r.distance !== null) expect(r.certificate).toBeLessThanOrEqual(r.distance);
    expect(card.training.command).toContain(`--arch ${card.architecture.name}`);
    expect(card.training.epochs.length).toBe(card.training.config.epochs);
  });

  (card.targets ? test : test.skip)('the card meets the targets it states', () => {
    const t = card.targets!;
    if (t.accuracy !== undefined) expect(card.results.accuracy).toBeGreaterThanOrEqual(t.accuracy);
    for (const label of Object.keys(t.cra ?? {})) expect([label, card.results.cra[label]]).toEqual([label, expect.any(Number)]);
    for (const [label, min] of Object.entries(t.cra ?? {})) expect(card.results.cra[label]).toBeGreaterThanOrEqual(min);
    if (t.medianCertificateOverDistance !== undefined) {
      expect(card.attacks.find((a) => a.attack === 'cw')!.medianCertificateOverDistance).toBeGreaterThanOrEqual(t.medianCertificateOverDistance);
    }
  });

  test('the training command pins the kernels (simd and composed round differently) and is the one MODEL.md prints', () => {
    expect(card.training.command).toMatch(/^LIP_KERNELS=(simd|composed) lip train /);
    expect(fs.readFileSync(path.join(MODELS, 'MODEL.md'), 'utf8')).toContain(`--command "${card.training.command}"`);
  });

  (haveFashionMnist() ? test : test.skip)('lip verify and lip bound on the ONNX file reproduce the card', async () => {
    const json = tmp.path('verify.json');
    const v = await lip('verify', onnxPath, '--json', json);
    expect(v.code).toBe(0);
    const verify = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(verify.n).toBe(card.results.images);
    expect(verify.accuracy).toBe(card.results.accuracy);
    for (const c of verify.cra as { label: string; value: number }[]) expect([c.label, c.value]).toEqual([c.label, card.results.cra[c.label]]);
    expect(v.out).toContain(card.results.accuracy.toFixed(4));
    const bjson = tmp.path('bound.json');
    const b = await lip('bound', onnxPath, '--json', bjson);
    expect(b.code).toBe(0);
    expect(JSON.parse(fs.readFileSync(bjson, 'utf8')).total).toBeCloseTo(card.results.lipschitzBound, 9);
    if (v.code !== 0) throw new Error(transcript(v));
  });
});
