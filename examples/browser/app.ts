/**
 * The browser page: a lip-exported model on onnxruntime-web through
 * @lip/runtime, a grid of test images with each prediction and its certified
 * radius r, and a perturbation of chosen L2 norm ε that shows the guarantee:
 * no prediction changes while ε < r, and some do once ε is above.
 *
 * Directions: a random unit vector per image, or for the selected image the
 * direction of grad(f_j - f_y) toward the runner-up class j (central finite
 * differences: 2d runs of the model in one batch, d the input size).
 *
 * `window.lipDemo` lets a test drive the page (test/e2e/browser.test.ts).
 */
import { CertifiedClassifier, Classification } from '@lip/runtime';

/** What serve.js tells the page (`/config.json`). */
interface DemoConfig {
  model: string;
  modelName: string;
  /** `/images.u8`: n images, uint8 NHWC, or null without data. */
  images: string | null;
  n: number;
  labels: number[];
  /** [height, width, channels] of the images. */
  imageShape: [number, number, number] | null;
  dataSource: string | null;
  ortPath: string;
}

interface PerturbationSummary {
  mode: 'random' | 'runner-up';
  eps: number;
  /** Images with r > ε: none of them may change. */
  certified: number;
  certifiedChanged: number;
  /** Images with r <= ε. */
  uncertified: number;
  uncertifiedChanged: number;
  /** Runner-up mode: the selected image's prediction at x + ε u. */
  selected: { index: number; label: number; radius: number; runnerUp: number; perturbedLabel: number; flipEps: number | null } | null;
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const statusEl = $<HTMLDivElement>('status');
const grid = $<HTMLDivElement>('grid');
const modeEl = $<HTMLSelectElement>('mode');
const epsEl = $<HTMLInputElement>('eps');
const epsOut = $<HTMLOutputElement>('eps-value');
const summaryEl = $<HTMLDivElement>('summary');

let clf: CertifiedClassifier;
let config: DemoConfig;
let images = new Float32Array(0); // n inputs, NCHW, as the model takes them
let results: Classification[] = [];
let randomDirections = new Float32Array(0);
let selected = 0;
let gradient: { index: number; direction: Float32Array; runnerUp: number; flipEps: number | null } | null = null;
let summary: PerturbationSummary | null = null;
let executionProvider = 'wasm';
let pending: Promise<void> = Promise.resolve();

function setStatus(text: string, error = false): void {
  statusEl.textContent = text;
  statusEl.className = error ? 'error' : '';
}

/** mulberry32: a seeded uniform generator, so that the random directions are the same on every load. */
function uniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n unit vectors of size d (Box-Muller normals, normalized). */
function unitDirections(n: number, d: number, seed: number): Float32Array {
  const u = uniform(seed);
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) {
      const v = Math.sqrt(-2 * Math.log(Math.max(u(), 1e-12))) * Math.cos(2 * Math.PI * u());
      out[i * d + k] = v;
      s += v * v;
    }
    const norm = Math.sqrt(s);
    for (let k = 0; k < d; k++) out[i * d + k] /= norm;
  }
  return out;
}

/** The class with the second largest logit. */
function runnerUp(scores: ArrayLike<number>, label: number): number {
  let best = -1;
  for (let j = 0; j < scores.length; j++) if (j !== label && (best < 0 || scores[j] > scores[best])) best = j;
  return best;
}

function input(i: number): Float32Array {
  return images.subarray(i * clf.inputSize, (i + 1) * clf.inputSize);
}

/** x + eps * u. */
function shifted(x: Float32Array, u: Float32Array, eps: number): Float32Array {
  return Float32Array.from(x, (v, k) => v + eps * u[k]);
}

function draw(canvas: HTMLCanvasElement, x: Float32Array): void {
  const [c, h, w] = clf.inputShape.length === 3 ? clf.inputShape : [1, 1, clf.inputSize];
  const [lo, hi] = clf.contract.inputRange ?? [0, 1];
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(w, h);
  const byte = (v: number): number => Math.round(255 * Math.min(1, Math.max(0, (v - lo) / (hi - lo))));
  for (let p = 0; p < h * w; p++) {
    for (let ch = 0; ch < 3; ch++) img.data[4 * p + ch] = byte(x[(c === 3 ? ch : 0) * h * w + p]);
    img.data[4 * p + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

function renderGrid(): void {
  grid.textContent = '';
  results.forEach((r, i) => {
    const card = document.createElement('div');
    card.className = 'card';
    card.dataset.index = String(i);
    const canvas = document.createElement('canvas');
    draw(canvas, input(i));
    const truth = config.labels[i];
    if (truth !== undefined && truth !== r.label) card.classList.add('wrong');
    card.append(canvas);
    const lines = [
      truth !== undefined ? `true: ${clf.classNames[truth] ?? truth}` : '',
      `pred: <span class="pred">${r.className}</span>`,
      `r = ${r.certifiedRadius.toFixed(3)}`,
      '<span class="after"></span>',
    ];
    const text = document.createElement('div');
    text.innerHTML = lines.filter(Boolean).join('<br>');
    card.append(text);
    card.addEventListener('click', () => {
      select(i);
    });
    grid.append(card);
  });
}

function cardOf(i: number): HTMLDivElement {
  return grid.children[i] as HTMLDivElement;
}

/** Marks card i for a perturbation of norm eps that gave `label`. */
function markCard(i: number, eps: number, label: number | null, x: Float32Array): void {
  const card = cardOf(i);
  card.classList.remove('certified', 'changed', 'uncertain');
  const after = card.querySelector('.after') as HTMLSpanElement;
  draw(card.querySelector('canvas')!, x);
  if (label === null || eps === 0) {
    after.textContent = '';
    return;
  }
  const r = results[i].certifiedRadius;
  const changed = label !== results[i].label;
  card.classList.add(changed ? 'changed' : eps < r ? 'certified' : 'uncertain');
  after.textContent = changed ? `→ ${clf.classNames[label]}${eps < r ? ' (VIOLATION)' : ''}` : eps < r ? 'certified: unchanged' : 'unchanged';
}

async function applyRandom(eps: number): Promise<PerturbationSummary> {
  const d = clf.inputSize;
  const n = results.length;
  const batch = new Float32Array(n * d);
  for (let i = 0; i < n; i++) batch.set(shifted(input(i), randomDirections.subarray(i * d, (i + 1) * d), eps), i * d);
  const after = eps === 0 ? results : await clf.classify(batch);
  const s: PerturbationSummary = { mode: 'random', eps, certified: 0, certifiedChanged: 0, uncertified: 0, uncertifiedChanged: 0, selected: null };
  for (let i = 0; i < n; i++) {
    const changed = after[i].label !== results[i].label;
    if (results[i].certifiedRadius > eps) {
      s.certified++;
      if (changed) s.certifiedChanged++;
    } else {
      s.uncertified++;
      if (changed) s.uncertifiedChanged++;
    }
    markCard(i, eps, after[i].label, batch.subarray(i * d, (i + 1) * d));
  }
  return s;
}

/** grad(f_j - f_y) at image i by central differences (step h), as a unit vector. */
async function runnerUpDirection(i: number): Promise<{ direction: Float32Array; runnerUp: number }> {
  const d = clf.inputSize;
  const x = input(i);
  const y = results[i].label;
  const j = runnerUp(results[i].scores, y);
  const h = 1e-3;
  const batch = new Float32Array(2 * d * d);
  for (let k = 0; k < d; k++) {
    batch.set(x, 2 * k * d);
    batch.set(x, (2 * k + 1) * d);
    batch[2 * k * d + k] += h;
    batch[(2 * k + 1) * d + k] -= h;
  }
  const { logits } = await clf.logits(batch);
  const m = clf.outputs;
  const g = new Float32Array(d);
  let s = 0;
  for (let k = 0; k < d; k++) {
    const plus = logits[2 * k * m + j] - logits[2 * k * m + y];
    const minus = logits[(2 * k + 1) * m + j] - logits[(2 * k + 1) * m + y];
    g[k] = (plus - minus) / (2 * h);
    s += g[k] * g[k];
  }
  const norm = Math.sqrt(s) || 1;
  return { direction: g.map((v) => v / norm), runnerUp: j };
}

/** The smallest eps (to 1e-4 relative) on [0, top] where x + eps u changes class, or null. */
async function firstFlip(i: number, u: Float32Array, top: number): Promise<number | null> {
  const x = input(i);
  const y = results[i].label;
  const steps = 64;
  const batch = new Float32Array(steps * clf.inputSize);
  for (let k = 1; k <= steps; k++) batch.set(shifted(x, u, (top * k) / steps), (k - 1) * clf.inputSize);
  const scan = await clf.classify(batch);
  const k = scan.findIndex((c) => c.label !== y);
  if (k < 0) return null;
  let lo = (top * k) / steps;
  let hi = (top * (k + 1)) / steps;
  while (hi - lo > 1e-4 * hi) {
    const mid = (lo + hi) / 2;
    const [c] = await clf.classify(shifted(x, u, mid));
    if (c.label !== y) hi = mid;
    else lo = mid;
  }
  return hi;
}

async function applyRunnerUp(eps: number): Promise<PerturbationSummary> {
  const i = selected;
  const r = results[i].certifiedRadius;
  if (!gradient || gradient.index !== i) {
    setStatus(`${baseStatus()} · computing the direction toward the runner-up class for image ${i}…`);
    const { direction, runnerUp: j } = await runnerUpDirection(i);
    let flipEps: number | null = null;
    for (let top = Math.max(2 * r, 0.25); flipEps === null && top <= 64; top *= 4) flipEps = await firstFlip(i, direction, top);
    gradient = { index: i, direction, runnerUp: j, flipEps };
    epsEl.max = String(Math.max(3 * r, 1.5 * (flipEps ?? 0), 0.5).toFixed(3));
    setStatus(baseStatus());
  }
  const x = shifted(input(i), gradient.direction, eps);
  const [after] = eps === 0 ? [results[i]] : await clf.classify(x);
  for (let k = 0; k < results.length; k++) if (k !== i) markCard(k, 0, null, input(k));
  markCard(i, eps, after.label, x);
  const changed = after.label !== results[i].label;
  const below = r > eps;
  renderFocus(i, x, eps, after.label);
  return {
    mode: 'runner-up',
    eps,
    certified: below ? 1 : 0,
    certifiedChanged: below && changed ? 1 : 0,
    uncertified: below ? 0 : 1,
    uncertifiedChanged: !below && changed ? 1 : 0,
    selected: { index: i, label: results[i].label, radius: r, runnerUp: gradient.runnerUp, perturbedLabel: after.label, flipEps: gradient.flipEps },
  };
}

function renderFocus(i: number, x: Float32Array, eps: number, label: number): void {
  const focus = $<HTMLDivElement>('focus');
  focus.hidden = false;
  draw($<HTMLCanvasElement>('focus-canvas'), x);
  const r = results[i];
  const flip = gradient?.flipEps ?? null;
  const rows: [string, string][] = [
    ['image', `#${i}${config.labels[i] !== undefined ? ` (true: ${clf.classNames[config.labels[i]]})` : ''}`],
    ['prediction', `${r.className}, certified radius r = ${r.certifiedRadius.toFixed(4)}`],
    ['runner-up', clf.classNames[gradient?.runnerUp ?? 0]],
    ['ε', eps.toFixed(4)],
    ['prediction at x + ε·u', `${clf.classNames[label]}${label === r.label ? '' : ' (changed)'}`],
    ['class changes at', flip === null ? 'not within the scanned range' : `ε = ${flip.toFixed(4)} (r / ε = ${(r.certifiedRadius / flip).toFixed(3)})`],
  ];
  $<HTMLTableElement>('focus-table').innerHTML = rows.map(([k, v]) => `<tr><td>${k}</td><td>${v}</td></tr>`).join('');
}

function select(i: number): void {
  cardOf(selected)?.classList.remove('selected');
  selected = i;
  cardOf(i).classList.add('selected');
  if (modeEl.value === 'runner-up') schedule();
}

function renderSummary(s: PerturbationSummary): void {
  const eps = s.eps.toFixed(3);
  summaryEl.textContent =
    s.mode === 'random'
      ? `ε = ${eps}, random directions: ${s.certified} images have r > ε and ${s.certifiedChanged} of them changed class ` +
        `(the certificate says none can); ${s.uncertified} have r ≤ ε and ${s.uncertifiedChanged} of them changed.`
      : `ε = ${eps} toward the runner-up class of image ${s.selected!.index}: r = ${s.selected!.radius.toFixed(4)}, ` +
        `prediction ${s.selected!.perturbedLabel === s.selected!.label ? 'unchanged' : 'changed'}` +
        `${s.selected!.flipEps !== null ? `; it changes from ε = ${s.selected!.flipEps.toFixed(4)}` : ''}.`;
}

/** Re-evaluates the perturbation after the current evaluation (inputs events come faster than runs). */
function schedule(): Promise<void> {
  pending = pending
    .then(async () => {
      const eps = Number(epsEl.value);
      epsOut.textContent = eps.toFixed(3);
      summary = modeEl.value === 'runner-up' ? await applyRunnerUp(eps) : await applyRandom(eps);
      renderSummary(summary);
    })
    .catch((err: unknown) => {
      setStatus(String((err as Error).message ?? err), true);
    });
  return pending;
}

function baseStatus(): string {
  const correct = results.filter((r, i) => r.label === config.labels[i]).length;
  const kind = clf.contract.form === 'binary' ? 'binary' : clf.contract.head ? 'head-aware' : 'multiclass';
  return (
    `${config.modelName} · onnxruntime-web (${executionProvider}) · L = ${clf.contract.lipschitz} · ${kind} certificates · ` +
    `${results.length} images${config.labels.length ? `, accuracy ${(correct / results.length).toFixed(3)}` : ''}`
  );
}

async function hasWebGpu(): Promise<boolean> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return false;
  try {
    return (await gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

/** The model with @lip/runtime on onnxruntime-web: WebGPU where the browser has it (or `?ep=`), else wasm. */
async function loadModel(url: string, ep: string): Promise<CertifiedClassifier> {
  return CertifiedClassifier.load(url, {
    engine: 'web',
    env: { wasm: { wasmPaths: config.ortPath, numThreads: 1 } },
    sessionOptions: { executionProviders: [ep] },
  });
}

async function main(): Promise<void> {
  config = (await (await fetch('config.json')).json()) as DemoConfig;
  const asked = new URLSearchParams(location.search).get('ep');
  executionProvider = asked ?? ((await hasWebGpu()) ? 'webgpu' : 'wasm');
  try {
    clf = await loadModel(config.model, executionProvider);
  } catch (err) {
    if (executionProvider === 'wasm' || asked) throw err;
    executionProvider = 'wasm'; // WebGPU present but unusable for this model
    clf = await loadModel(config.model, executionProvider);
  }
  if (!config.images || !config.imageShape) {
    setStatus(`${config.modelName} loaded; no test images (start serve.js with --data)`);
    return;
  }
  const [h, w, c] = config.imageShape;
  if (h * w * c !== clf.inputSize) {
    throw new Error(`the images are ${h}x${w}x${c} but the model takes [${clf.inputShape.join(', ')}]; start serve.js with matching --data`);
  }
  const bytes = new Uint8Array(await (await fetch(config.images)).arrayBuffer());
  // NHWC bytes -> NCHW, byte / 255 as lip verify reads them.
  images = new Float32Array(config.n * h * w * c);
  for (let i = 0; i < config.n; i++) {
    for (let p = 0; p < h * w; p++) {
      for (let ch = 0; ch < c; ch++) images[(i * c + ch) * h * w + p] = bytes[(i * h * w + p) * c + ch] / 255;
    }
  }
  results = await clf.classify(images);
  randomDirections = unitDirections(config.n, clf.inputSize, 1);
  renderGrid();
  select(0);
  $<HTMLFieldSetElement>('controls').disabled = false;
  epsEl.addEventListener('input', () => {
    void schedule();
  });
  modeEl.addEventListener('change', () => {
    void schedule();
  });
  await schedule();
  setStatus(baseStatus());
}

const ready = main().catch((err: unknown) => {
  setStatus(`error: ${String((err as Error).message ?? err)}`, true);
  throw err;
});

/** For tests and the console. */
(window as unknown as { lipDemo: unknown }).lipDemo = {
  ready,
  /** Resolves once the perturbation shown matches the controls. */
  settled: (): Promise<void> => pending,
  state: () => ({
    executionProvider,
    engine: clf?.engine,
    lipschitz: clf?.contract.lipschitz,
    results: results.map((r) => ({ label: r.label, className: r.className, certifiedRadius: r.certifiedRadius, scores: Array.from(r.scores) })),
    summary,
  }),
  select,
  /** Logits of `data` (`n` inputs of the model at `url`) on this page's engine: the runtime matrix test. */
  async logits(url: string, data: number[]): Promise<number[]> {
    const m = await loadModel(url, executionProvider);
    try {
      return Array.from((await m.logits(Float32Array.from(data))).logits);
    } finally {
      await m.dispose();
    }
  },
};
