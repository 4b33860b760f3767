#!/usr/bin/python3
"""Makes test/fixtures/head-layers-reference.json: reference outputs (and gradients) of issue 16's
FrobeniusDense(disjoint_neurons), LayerCentering, BatchCentering and Householder layers.

Run from the repository root with Debian's Python (a pyenv `python3` on PATH does not see Debian's
dist-packages, hence /usr/bin/python3):

    apt-get install python3-torch python3-numpy
    /usr/bin/python3 tools/make-head-fixtures.py

Each layer below is transcribed, operation for operation, from its reference code (read at these commits;
the repositories are public on GitHub):

- FrobeniusDense(disjoint_neurons=True): deel-ai/deel-torchlip, deel/torchlip/utils/frobenius_norm.py
  (_FrobeniusNorm: weight / torch.norm(weight, dim=1, keepdim=True)) and deel/torchlip/modules/linear.py
  (FrobeniusLinear), at a47769711772f213e77d9843b2456dc0129e1060; deel-ai/deel-lip's FrobeniusDense
  (deel/lip/layers/dense.py, tf.norm(kernel, axis=0) on keras' [in, out] kernel) at
  0d1cdae371ea6784d500461acad30437c841d4d4 is the same map.
- LayerCentering: deel-torchlip deel/torchlip/modules/normalization.py, class LayerCentering, at
  a47769711772f213e77d9843b2456dc0129e1060: x - x.mean(dim, keepdim=True) + bias.view(1, -1, 1, ...).
- BatchCentering: the same file at 279fb5f6168e401af73a4e026160846b8f2f48ab (before the multi-GPU
  rewrite e127509, which replaced the momentum by an epoch average): training centers by the batch mean
  over dims (0, 2, 3) (or (0,) for [N, F]); the first training batch sets running_mean, later ones
  running_mean = (1 - momentum) running_mean + momentum mean; evaluation centers by running_mean.
- Householder: deel-ai/deel-lip deel/lip/layers/activations.py, class Householder, at
  0d1cdae371ea6784d500461acad30437c841d4d4 (channels last; deel-torchlip's HouseHolder at a477697 is the
  same formula on axis 1): z1, z2 = halves; selector = z1 sin(theta/2) - z2 cos(theta/2);
  reflected = (z1 cos theta + z2 sin theta, z1 sin theta - z2 cos theta); where(selector <= 0, z, reflected).

Tensors are channels last (tfjs layout); the NCHW references are applied to transposed copies. Inputs and
weights are float32 numbers, everything is computed in float64. Gradients are of sum(output * cotangent).
"""
import json
import math
import os

import numpy as np
import torch

SEED = 1616
OUT = os.path.join('test', 'fixtures', 'head-layers-reference.json')


def f32(rng, shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def t64(a):
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64)


def nchw(x):
    """[N, H, W, C] -> [N, C, H, W]; [N, F] unchanged."""
    return x.permute(0, 3, 1, 2) if x.dim() == 4 else x


def nhwc(x):
    return x.permute(0, 2, 3, 1) if x.dim() == 4 else x


# ------------------------------------------------------------------------------------------- FrobeniusDense

def frobenius_disjoint(x, weight, bias):
    """FrobeniusLinear(disjoint_neurons=True): weight [out, in] normalized per row (output neuron)."""
    w = weight / torch.norm(weight, dim=1, keepdim=True)
    return x @ w.t() + bias


def frobenius_cases(rng):
    out = []
    for n, fin, fout, scale in [(4, 6, 3, 1.0), (5, 10, 10, 3.0), (3, 4, 7, 0.2)]:
        x = f32(rng, (n, fin))
        weight = f32(rng, (fout, fin), scale)  # torch layout [out, in]; the tfjs raw kernel is its transpose
        bias = f32(rng, (fout,), 0.1)
        y = frobenius_disjoint(t64(x), t64(weight), t64(bias))
        out.append(dict(x=x.tolist(), kernel=weight.T.tolist(), bias=bias.tolist(), output=y.tolist()))
    return out


# ------------------------------------------------------------------------------------------- LayerCentering

def layer_centering(x, bias, dim):
    mean = x.mean(dim=dim, keepdim=True)
    bias_shape = (1, -1) + (1,) * (len(x.shape) - 2)
    return x - mean + bias.view(bias_shape)


def layer_centering_cases(rng):
    out = []
    # (tfjs input shape, torch dim on the NCHW / [N, F] tensor, tfjs axis option, with bias)
    for shape, dim, axis, with_bias in [
        ((3, 4, 5, 6), (-2, -1), None, True),  # the reference's default: spatial mean per channel
        ((4, 9), (-1,), None, True),  # features
        ((2, 3, 3, 4), (1,), [-1], True),  # channels, per pixel
        ((2, 2, 3, 4), (1, 2, 3), [1, 2, 3], False),  # everything of a sample
    ]:
        x = f32(rng, shape, 2.0)
        c = shape[-1]
        bias = f32(rng, (c,), 0.5) if with_bias else np.zeros((c,), np.float32)
        y = nhwc(layer_centering(nchw(t64(x)), t64(bias), dim))
        out.append(dict(shape=list(shape), axis=axis, useBias=with_bias, x=x.reshape(-1).tolist(), bias=bias.tolist(), output=y.reshape(-1).tolist()))
    return out


# ------------------------------------------------------------------------------------------- BatchCentering

class BatchCentering:
    """deel-torchlip BatchCentering(size, momentum, bias) at 279fb5f, in float64."""

    def __init__(self, size, momentum, bias):
        self.momentum = momentum
        self.running_mean = torch.zeros((size,), dtype=torch.float64)
        self.bias = bias
        self.first = True

    def forward(self, x, training):
        dim = (0,) + tuple(range(2, len(x.shape)))
        mean_shape = (1, -1) + (1,) * (len(x.shape) - 2)
        if training:
            mean = x.mean(dim=dim)
            with torch.no_grad():
                if self.first:
                    self.running_mean = mean
                    self.first = False
                else:
                    self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
        else:
            mean = self.running_mean
        return x - mean.view(mean_shape) + self.bias.view(mean_shape)


def batch_centering_cases(rng):
    out = []
    for shape, momentum, steps in [((6, 3, 3, 4), 0.05, 4), ((8, 5), 0.3, 3)]:
        c = shape[-1]
        bias = f32(rng, (c,), 0.5)
        layer = BatchCentering(c, momentum, t64(bias))
        calls = []
        for step in range(steps):
            # Batches with a channel offset, so the running mean moves.
            x = f32(rng, shape) + np.float32(step + 1)
            y = nhwc(layer.forward(nchw(t64(x)), True))
            calls.append(dict(training=True, x=x.reshape(-1).tolist(), output=y.reshape(-1).tolist(), runningMean=layer.running_mean.tolist()))
        x = f32(rng, shape)
        y = nhwc(layer.forward(nchw(t64(x)), False))
        calls.append(dict(training=False, x=x.reshape(-1).tolist(), output=y.reshape(-1).tolist(), runningMean=layer.running_mean.tolist()))
        out.append(dict(shape=list(shape), momentum=momentum, bias=bias.tolist(), calls=calls))
    return out


# ------------------------------------------------------------------------------------------- Householder

def householder(x, theta):
    """deel-lip Householder.call, channels last."""
    z1, z2 = torch.split(x, x.shape[-1] // 2, dim=-1)
    selector = (z1 * torch.sin(0.5 * theta)) - (z2 * torch.cos(0.5 * theta))
    cos_theta = torch.cos(theta)
    sin_theta = torch.sin(theta)
    reflected_z1 = z1 * cos_theta + z2 * sin_theta
    reflected_z2 = z1 * sin_theta - z2 * cos_theta
    a = torch.where(selector <= 0, z1, reflected_z1)
    b = torch.where(selector <= 0, z2, reflected_z2)
    return torch.cat([a, b], dim=-1)


def householder_cases(rng):
    out = []
    for shape, theta_kind in [((6, 8), 'random'), ((2, 3, 3, 6), 'random'), ((5, 4), 'default'), ((4, 10), 'wide')]:
        c = shape[-1]
        if theta_kind == 'default':
            theta = np.full((c // 2,), np.float32(math.pi / 2), np.float32)
        elif theta_kind == 'wide':
            theta = rng.uniform(-2 * math.pi, 2 * math.pi, (c // 2,)).astype(np.float32)
        else:
            theta = rng.uniform(0, math.pi, (c // 2,)).astype(np.float32)
        x = f32(rng, shape)
        cot = f32(rng, shape)
        xt = t64(x).requires_grad_(True)
        tt = t64(theta).requires_grad_(True)
        y = householder(xt, tt)
        (y * t64(cot)).sum().backward()
        out.append(dict(shape=list(shape), theta=theta.tolist(), x=x.reshape(-1).tolist(), cotangent=cot.reshape(-1).tolist(),
                        output=y.detach().reshape(-1).tolist(), gradX=xt.grad.reshape(-1).tolist(), gradTheta=tt.grad.tolist()))
    return out


def main():
    torch.set_grad_enabled(True)
    rng = np.random.RandomState(SEED)
    fixture = dict(
        description='Reference outputs of FrobeniusDense(disjoint), LayerCentering, BatchCentering and Householder in float64 '
                    'on float32 inputs (channels last); made by tools/make-head-fixtures.py (its docstring cites the code).',
        seed=SEED,
        frobeniusDisjoint=frobenius_cases(rng),
        layerCentering=layer_centering_cases(rng),
        batchCentering=batch_centering_cases(rng),
        householder=householder_cases(rng),
    )
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        json.dump(fixture, f, indent=None, separators=(',', ':'))
        f.write('\n')
    print(f'wrote {OUT}: ' + ', '.join(f'{len(v)} {k}' for k, v in fixture.items() if isinstance(v, list)))


if __name__ == '__main__':
    main()
