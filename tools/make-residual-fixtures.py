#!/usr/bin/python3
"""Makes test/fixtures/residual-reference.json: reference outputs of issue 16's residual layers (AOL, SLL, LipResidual).

Run from the repository root with Debian's Python (a pyenv `python3` on PATH does not see Debian's
dist-packages, hence /usr/bin/python3):

    apt-get install python3-torch python3-numpy
    /usr/bin/python3 tools/make-residual-fixtures.py

The formulas are transcribed, operation for operation, from their reference code (read at these commits; the
repositories are public on GitHub):

- AOL: berndprach/AOL, src/aol_code/layers/aol/aol_rescale.py (get_rescaling_factors) and
  aol_conv2d_rescale.py (get_aol_conv2d_rescale), commit 9881e707f49d90fc002fccd2b2913a48279ccb29. The
  reference is TensorFlow with Keras layouts (dense [in, out], conv [kh, kw, cin, cout]), the layouts lip uses;
  its tf.nn.conv2d (NHWC) is written here as torch's conv2d (NCHW) on the same arrays.
- SLL: araujoalexandre/Lipschitz-SLL-Networks, core/models/layers.py (SDPBasedLipschitzLinearLayer,
  SDPBasedLipschitzConvLayer: compute_t, forward), commit 1abe5e12e7fe0a9cfcb4cd9e141b0f1046bf4583, torch
  layouts (dense weight [k, n], conv kernel [k, c, kh, kw], NCHW inputs). The conv layer's q cancels in its
  compute_t (q_i^-1 q_i); `t_weighted` is the T of the paper (and of the dense layer) on the conv Gram, which
  lip's SLLConv2D uses (equal to the reference's at q = 0, lip's initial q).
- LipResidual: deel-ai/deel-torchlip, deel/torchlip/modules/residual.py, commit
  ccdc26172e59af75f0ecf424576987dd1b1c3164: alpha = sigmoid(a), y = alpha x + (1 - alpha) f(x). Its block f
  here is an AOL dense layer (above) then GroupSort2 (deel-torchlip's GroupSort with group size 2: each pair
  of consecutive features sorted ascending).

Every array is drawn in float32 (so lip's float32 code sees the same numbers) and every output is computed in
float64. Arrays are flat lists in C order, with their shapes.
"""
import json
import os

import torch
import torch.nn.functional as F

SEED = 16
OUT = os.path.join('test', 'fixtures', 'residual-reference.json')
AOL_EPS = 1e-6


def draw(*shape, std=1.0):
    """Standard normal float32 values times std, as float64."""
    return (torch.randn(*shape, dtype=torch.float32) * std).to(torch.float32).to(torch.float64)


def flat(t):
    return {'shape': list(t.shape), 'data': [float(v) for v in t.reshape(-1).tolist()]}


# ------------------------------------------------------------------------------------------------------- AOL

def aol_dense(p):
    """aol_rescale: p [in, out] times (sum_j |p p^T|_ij + eps)^(-1/2) on its rows."""
    mmt = p @ p.T
    factors = (mmt.abs().sum(dim=1) + AOL_EPS) ** (-0.5)
    return p * factors[:, None]


def aol_conv(w):
    """aol_conv2d_rescale: w [kh, kw, cin, cout] times (sum_{j, shifts} |w_i * w_j| + eps)^(-1/2) per input channel."""
    kh, kw = w.shape[0], w.shape[1]
    # tf.nn.conv2d(input = w as [cin, kh, kw, cout] NHWC, filters = w as [kh, kw, cout, cin], pad kh-1, kw-1).
    images = w.permute(2, 3, 0, 1)  # NCHW [cin, cout, kh, kw]
    filters = w.permute(2, 3, 0, 1)  # torch [out = cin, in = cout, kh, kw]
    v = F.conv2d(images, filters, padding=(kh - 1, kw - 1))  # [cin, cin, 2kh-1, 2kw-1]
    factors = (v.abs().sum(dim=(1, 2, 3)) + AOL_EPS) ** (-0.5)
    return w * factors[None, None, :, None]


# ------------------------------------------------------------------------------------------------------- SLL

def safe_inv(x):
    mask = x == 0
    x_inv = x ** (-1)
    x_inv[mask] = 0
    return x_inv


def sll_dense(weight, bias, q, x):
    """SDPBasedLipschitzLinearLayer: weight [k, n], bias [1, k], q [k], x [B, n]."""
    q_exp = torch.exp(q)
    q_inv = torch.exp(-q)
    t = torch.abs(torch.einsum('i,ik,kj,j -> ij', q_inv, weight, weight.T, q_exp)).sum(1)
    t = safe_inv(t)
    res = F.linear(x, weight)
    res = res + bias
    res = t * F.relu(res)
    res = 2 * F.linear(res, weight.T)
    return t, x - res


def sll_conv(kernel, bias, q, x):
    """SDPBasedLipschitzConvLayer: kernel [k, c, kh, kw], bias [1, k, 1, 1], q [k], x [B, c, H, W].

    The reference's forward pads by 1 (its kernels are 3x3); kh // 2, its `self.padding`, is the same there
    and keeps the shape for the 1x1 case below.
    """
    pad = kernel.shape[-1] // 2
    ktk = F.conv2d(kernel, kernel, padding=kernel.shape[-1] - 1)
    ktk = torch.abs(ktk)
    q_exp = torch.exp(q).reshape(-1, 1, 1, 1)
    q_inv = torch.exp(-q).reshape(-1, 1, 1, 1)
    t = (q_inv * ktk * q_exp).sum((1, 2, 3))  # q_inv and q_exp both run along ktk's first axis: they cancel
    t = safe_inv(t)
    res = F.conv2d(x, kernel, padding=pad)
    res = res + bias
    res = t.reshape(1, -1, 1, 1) * F.relu(res)
    res = 2 * F.conv_transpose2d(res, kernel, padding=pad)
    return t, x - res


def sll_conv_weighted_t(kernel, q):
    """The conv T with q weighting the other channel, as the dense layer's einsum does (the paper's T):
    T_i = sum_{j, shifts} |ktk_ij| q_j / q_i. The reference's conv compute_t multiplies by q_i / q_i instead."""
    ktk = torch.abs(F.conv2d(kernel, kernel, padding=kernel.shape[-1] - 1)).sum((2, 3))  # [k, k]
    t = torch.einsum('i,ij,j -> ij', torch.exp(-q), ktk, torch.exp(q)).sum(1)
    return safe_inv(t)


# ------------------------------------------------------------------------------------------------ LipResidual

def group_sort2(x):
    pairs = x.reshape(x.shape[0], -1, 2)
    return torch.sort(pairs, dim=2).values.reshape(x.shape)


def lip_residual(a, x, fx):
    alpha = torch.sigmoid(a)
    return alpha * x + (1 - alpha) * fx


def main():
    torch.manual_seed(SEED)
    out = {'generator': 'tools/make-residual-fixtures.py', 'seed': SEED, 'aol_epsilon': AOL_EPS}

    out['aol_dense'] = []
    for n_in, n_out in [(6, 4), (5, 9)]:
        p = draw(n_in, n_out)
        out['aol_dense'].append({'kernel': flat(p), 'rescaled': flat(aol_dense(p))})

    out['aol_conv'] = []
    for kh, kw, cin, cout in [(3, 3, 2, 3), (3, 1, 3, 2)]:
        w = draw(kh, kw, cin, cout)
        out['aol_conv'].append({'kernel': flat(w), 'rescaled': flat(aol_conv(w))})

    out['sll_dense'] = []
    for n, k in [(6, 6), (5, 8)]:
        weight, bias, q, x = draw(k, n, std=0.5), draw(1, k, std=0.3), draw(k), draw(4, n)
        t, y = sll_dense(weight, bias, q, x)
        out['sll_dense'].append({'weight': flat(weight), 'bias': flat(bias), 'q': flat(q), 'x': flat(x), 't': flat(t), 'y': flat(y)})

    out['sll_conv'] = []
    for c, k, kh in [(2, 3, 3), (3, 2, 1)]:
        kernel, bias, q, x = draw(k, c, kh, kh, std=0.4), draw(1, k, 1, 1, std=0.3), draw(k), draw(2, c, 5, 4)
        t, y = sll_conv(kernel, bias, q, x)
        out['sll_conv'].append({'kernel': flat(kernel), 'bias': flat(bias), 'q': flat(q), 'x': flat(x), 't': flat(t), 'y': flat(y),
                                't_weighted': flat(sll_conv_weighted_t(kernel, q))})

    out['lip_residual'] = []
    for a in [0.0, -1.25, 2.5]:
        p, bias, x = draw(6, 6), draw(6, std=0.3), draw(3, 6)
        fx = group_sort2(x @ aol_dense(p) + bias)
        y = lip_residual(torch.tensor(a, dtype=torch.float64), x, fx)
        out['lip_residual'].append({'alpha_raw': a, 'kernel': flat(p), 'bias': flat(bias), 'x': flat(x), 'y': flat(y)})

    with open(OUT, 'w') as f:
        json.dump(out, f, indent=1)
        f.write('\n')
    print(f'wrote {OUT}')


if __name__ == '__main__':
    main()
