#!/usr/bin/python3
"""Makes test/fixtures/losses-reference.json: the reference values and gradients of issue 16's losses.

Run from the repository root with Debian's Python (a pyenv `python3` on PATH does not see Debian's
dist-packages, hence /usr/bin/python3):

    apt-get install python3-torch python3-numpy
    /usr/bin/python3 tools/make-loss-fixtures.py

The three losses below are transcribed, operation for operation, from their reference code (read at these
commits; the repositories are public on GitHub):

- LseHKR: deel-ai/deel-torchlip, deel/torchlip/modules/loss.py, class LseHKRMulticlassLoss, at commit
  a47769711772f213e77d9843b2456dc0129e1060 (added by PRs 36 and 38: merges b928c28 and 76155c9).
- SoftHKR: the same file, class SoftHKRMulticlassLoss (deel-torchlip's port of deel-ai/deel-lip PR 86,
  deel/lip/losses.py MulticlassSoftHKR, merge 58bf1e47b72e09427ec28af6ba92149f97f414c3). deel-torchlip's
  alpha in [0, 1] weighs (1 - alpha) * KR + alpha * hinge; deel-lip's alpha in (0, inf) gives KR / alpha + hinge,
  the same loss up to a factor.
- Cross-entropy with a margin offset: berndprach/AOL (Prach & Lampert 2022), src/aol_code/metrics/
  offset_xent_from_scores.py (OffsetXentFromScores) with the defaults of src/aol_code/get_run_setting.py
  (offset sqrt(2), temperature 1/4), at commit 562bddf8b82973b624be02a6acc0165fc97cfcfd; the same formula as
  berndprach/1LipschitzLayersCompared trainer/metrics/lipschit_ce_loss.py (LipCrossEntropyLoss) at
  01e3f2ad1f48ad749b2e91452c1d5869d3a6159a.

Everything is computed in float64 on logits that are float32 numbers (so float32 code sees the same inputs);
gradients are d loss / d logits by autograd, with the references' detached quantities detached. Each SoftHKR
case is a sequence of calls on one loss object, as in training: the object's moving mean of |logits| changes
the softmax temperature of the next call, so each call records the temperature it used and the mean after it.
"""
import json
import math
import os

import numpy as np
import torch

SEED = 16
OUT = os.path.join('test', 'fixtures', 'losses-reference.json')
FLOAT32_MIN = float(np.finfo(np.float32).min)


# ---------------------------------------------------------------------------------------------------- LseHKR

def lse_hkr(logits, one_hot, alpha, min_margin, temperature, penalty):
    """deel-torchlip LseHKRMulticlassLoss(alpha, temperature, penalty, min_margin), reduction 'mean'.

    z = temperature * logits; per row, the true class's z against a soft maximum of the others':
      lse_neg = logsumexp_{k != y}(t * z_k) / t,   t = log(K - 1) / (min_margin * penalty / 2)
      (max_{k != y} z_k <= lse_neg <= max + penalty * min_margin / 2)
      kr = lse_neg - z_y,   hinge = relu(min_margin / 2 - z_y) + relu(min_margin / 2 + lse_neg)
      loss = mean_rows((1 - alpha) * kr + alpha * hinge)
    alpha = 1 (hinge only) and alpha = 0 (KR only) are the same formula.
    """
    z = logits * temperature
    positive = z[one_hot > 0]
    negatives = torch.where(one_hot > 0, torch.tensor(-math.inf, dtype=z.dtype), z)
    t = math.log(z.shape[1] - 1) / (min_margin * penalty / 2.0)
    lse_neg = torch.logsumexp(t * negatives, dim=1) / t
    kr = -(positive - lse_neg)
    hinge = torch.relu(min_margin / 2.0 - positive) + torch.relu(min_margin / 2.0 + lse_neg)
    return ((1 - alpha) * kr + alpha * hinge).mean()


# ---------------------------------------------------------------------------------------------------- SoftHKR

class SoftHKR:
    """deel-torchlip SoftHKRMulticlassLoss(alpha, min_margin, alpha_mean, temperature), reduction 'mean'.

    State: current_mean, starting at min_margin. Each call:
      m = alpha_mean * current_mean + (1 - alpha_mean) * mean|logits|      (over all B x K entries)
      current_mean <- clamp(m, 0.005, 1000)                                (detached)
      T = clamp(temperature * min_margin / clamp(m, min_margin, 20000), 0.005, 250)   (detached)
      w_k = softmax_{k != y}(T * logits)_k, w_y = 1                          (not detached)
      s_k = +1 if k = y else -1
      loss = mean_rows sum_k w_k * ((1 - alpha) * (-s_k f_k) + alpha * relu(min_margin / 2 - s_k f_k))
    """

    def __init__(self, alpha, min_margin, alpha_mean, temperature):
        self.alpha = alpha
        self.min_margin = min_margin
        self.alpha_mean = alpha_mean
        self.scaled_temperature = temperature * min_margin
        self.current_mean = torch.tensor(min_margin, dtype=torch.float64)

    def __call__(self, logits, one_hot):
        mean_abs = torch.mean(torch.abs(logits))
        m = self.alpha_mean * self.current_mean + (1 - self.alpha_mean) * mean_abs
        self.current_mean = torch.clamp(m, 0.005, 1000).detach()
        total_mean = torch.clamp(m, self.min_margin, 20000)
        temperature = torch.clamp(self.scaled_temperature / total_mean, 0.005, 250).detach()
        others = torch.where(one_hot > 0, torch.tensor(FLOAT32_MIN, dtype=logits.dtype), temperature * logits)
        weights = torch.where(one_hot > 0, torch.tensor(1.0, dtype=logits.dtype), torch.softmax(others, dim=-1))
        signed = logits * torch.where(one_hot > 0, 1.0, -1.0).to(logits.dtype)
        kr = torch.sum(-signed * weights, dim=-1)
        hinge = torch.sum(torch.relu(self.min_margin / 2.0 - signed) * weights, dim=-1)
        loss = ((1 - self.alpha) * kr + self.alpha * hinge).mean()
        return loss, float(mean_abs), float(temperature)


# ---------------------------------------------------------------------------------------------------- margin CE

def offset_cross_entropy(logits, one_hot, offset, temperature):
    """AOL's OffsetXentFromScores(offset, temperature), Keras' mean over the batch:

      loss = mean_rows temperature * CE(softmax((logits - offset * one_hot) / temperature), one_hot)
    """
    z = (logits - offset * one_hot) / temperature
    per_row = -torch.sum(one_hot * torch.log_softmax(z, dim=-1), dim=-1)
    return (per_row * temperature).mean()


# ---------------------------------------------------------------------------------------------------- cases

def batch(rng, rows, classes, scale):
    """Float32 logits N(0, scale^2) [rows, classes] and labels covering the classes as far as rows allow."""
    logits = (rng.standard_normal((rows, classes)) * scale).astype(np.float32)
    labels = rng.permutation(np.arange(rows) % classes).astype(np.int64)
    return logits, labels


def tensors(logits, labels, classes):
    f = torch.tensor(logits.astype(np.float64), requires_grad=True)
    y = torch.nn.functional.one_hot(torch.tensor(labels), classes).to(torch.float64)
    return f, y


def value_and_grad(fn, f):
    loss = fn(f)
    (grad,) = torch.autograd.grad(loss, f)
    return float(loss), grad.numpy().tolist()


def lse_cases(rng):
    out = []
    settings = [
        # The deel-torchlip Fashion-MNIST notebook's (issue 16): alpha 0.9, min margin 1, temperature 10.
        dict(classes=10, rows=16, scale=0.3, alpha=0.9, minMargin=1.0, temperature=10.0, penalty=1.0),
        # The class defaults: alpha 1 (hinge only), temperature 1.
        dict(classes=10, rows=16, scale=1.0, alpha=1.0, minMargin=1.0, temperature=1.0, penalty=1.0),
        dict(classes=3, rows=9, scale=0.8, alpha=0.0, minMargin=0.5, temperature=2.0, penalty=1.0),
        dict(classes=5, rows=12, scale=0.5, alpha=0.5, minMargin=0.25, temperature=4.0, penalty=2.5),
        dict(classes=4, rows=8, scale=2.0, alpha=0.99, minMargin=2.0, temperature=0.5, penalty=0.5),
    ]
    for s in settings:
        logits, labels = batch(rng, s['rows'], s['classes'], s['scale'])
        f, y = tensors(logits, labels, s['classes'])
        value, grad = value_and_grad(lambda p: lse_hkr(p, y, s['alpha'], s['minMargin'], s['temperature'], s['penalty']), f)
        out.append(dict(**{k: v for k, v in s.items() if k not in ('rows', 'scale')}, labels=labels.tolist(),
                        logits=logits.tolist(), value=value, grad=grad))
    return out


def soft_cases(rng):
    out = []
    settings = [
        # The class defaults.
        dict(classes=10, rows=16, scales=[0.5, 2.0, 3.0], alpha=0.9, minMargin=1.0, alphaMean=0.99, temperature=1.0),
        # The notebook's: alpha 0.995, min margin 0.1, temperature 50 (the moving mean sets the temperature).
        dict(classes=10, rows=16, scales=[0.3, 0.6, 1.2], alpha=0.995, minMargin=0.1, alphaMean=0.99, temperature=50.0),
        # alpha 1 (hinge only), alpha 0 (KR only), a fast moving mean.
        dict(classes=4, rows=8, scales=[1.0, 4.0], alpha=1.0, minMargin=0.5, alphaMean=0.5, temperature=2.0),
        dict(classes=3, rows=9, scales=[2.0, 0.5], alpha=0.0, minMargin=0.25, alphaMean=0.9, temperature=5.0),
    ]
    for s in settings:
        loss = SoftHKR(s['alpha'], s['minMargin'], s['alphaMean'], s['temperature'])
        calls = []
        for scale in s['scales']:
            logits, labels = batch(rng, s['rows'], s['classes'], scale)
            f, y = tensors(logits, labels, s['classes'])
            mean_before = float(loss.current_mean)
            value, mean_abs, temperature = loss(f, y)
            (grad,) = torch.autograd.grad(value, f)
            calls.append(dict(labels=labels.tolist(), logits=logits.tolist(), meanBefore=mean_before,
                              meanAbsLogit=mean_abs, temperatureUsed=temperature, meanAfter=float(loss.current_mean),
                              value=float(value), grad=grad.numpy().tolist()))
        out.append(dict(**{k: v for k, v in s.items() if k not in ('rows', 'scales')}, calls=calls))
    return out


def margin_cases(rng):
    out = []
    settings = [
        # AOL's defaults: offset sqrt(2), temperature 1/4.
        dict(classes=10, rows=16, scale=0.5, offset=math.sqrt(2), temperature=0.25),
        # "1-Lipschitz Layers Compared": offset 2 sqrt(2) 36/255, temperature 1/4.
        dict(classes=10, rows=16, scale=0.3, offset=2 * math.sqrt(2) * 36 / 255, temperature=0.25),
        # AOL's ablation: offset sqrt(2)/16 with temperature (1/16)/4.
        dict(classes=3, rows=9, scale=0.2, offset=math.sqrt(2) / 16, temperature=1 / 64),
        dict(classes=5, rows=10, scale=1.0, offset=0.0, temperature=1.0),
    ]
    for s in settings:
        logits, labels = batch(rng, s['rows'], s['classes'], s['scale'])
        f, y = tensors(logits, labels, s['classes'])
        value, grad = value_and_grad(lambda p: offset_cross_entropy(p, y, s['offset'], s['temperature']), f)
        out.append(dict(**{k: v for k, v in s.items() if k not in ('rows', 'scale')}, labels=labels.tolist(),
                        logits=logits.tolist(), value=value, grad=grad))
    return out


def to_json(value, indent=''):
    """json.dumps with one line per list of scalars (a row of logits or gradients) and per other entry."""
    inner = indent + ' '
    if isinstance(value, dict):
        items = [f'{inner}{json.dumps(k)}: {to_json(v, inner)}' for k, v in value.items()]
        return '{\n' + ',\n'.join(items) + '\n' + indent + '}'
    if isinstance(value, list) and any(isinstance(v, (list, dict)) for v in value):
        return '[\n' + ',\n'.join(inner + to_json(v, inner) for v in value) + '\n' + indent + ']'
    return json.dumps(value, separators=(', ', ': ') if isinstance(value, list) else None)


def main():
    torch.set_grad_enabled(True)
    rng = np.random.RandomState(SEED)
    fixture = dict(
        description='Reference values and gradients (d loss / d logits) of LseHKR, SoftHKR and the offset cross-entropy '
                    'in float64 on float32 logits; made by tools/make-loss-fixtures.py (its docstring cites the code).',
        seed=SEED,
        lseHkr=lse_cases(rng),
        softHkr=soft_cases(rng),
        marginCce=margin_cases(rng),
    )
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        f.write(to_json(fixture) + '\n')
    print(f'wrote {OUT}: {len(fixture["lseHkr"])} LseHKR, {len(fixture["softHkr"])} SoftHKR sequences, '
          f'{len(fixture["marginCce"])} offset cross-entropy cases')


if __name__ == '__main__':
    main()
