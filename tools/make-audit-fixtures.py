#!/usr/bin/python3
"""Makes the ONNX fixtures of issue 11: classifiers that lip did not export, for `lip verify` and `lip bound`.

Run from the repository root with Debian's Python (a pyenv `python3` on PATH does not see Debian's
dist-packages, hence /usr/bin/python3):

    apt-get install python3-torch python3-onnx python3-numpy dataset-fashion-mnist
    /usr/bin/python3 tools/make-audit-fixtures.py

It trains six small Fashion-MNIST classifiers in torch (one CPU thread, fixed seeds), exports them to
test/fixtures/audit/<name>.onnx and writes <name>.expected.json beside each (torch's outputs on the first 16 test
images, its accuracy on the first 1000, a lower bound on the L2 Lipschitz constant) plus images16.json (those 16
images). The models are listed in FIXTURES at the bottom; test/fixtures/audit/README.md describes them.

torch 1.13 has only the TorchScript exporter and onnx 1.12 knows opsets up to 17, so the `dynamo=True`-style twin
(opset 18, batch 1, no Shape ops) is written node by node with onnx.helper from the same weights, and checked by
running it in torch (`run_graph_in_torch`) instead of onnx.checker.
"""
import argparse
import copy
import gzip
import io
import json
import math
import os
import sys
import time
import warnings
from collections import Counter

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

SEED = 11
TRAIN_IMAGES = 8000
BATCH_SIZE = 64
ACCURACY_IMAGES = 1000
OUTPUT_IMAGES = 16
NUM_CLASSES = 10
# Cross-entropy on tau * logits (deel-torchlip's TauCrossEntropyLoss): a 1-Lipschitz net needs tau to reach
# confident logits.
TAU = 16.0
# Power-iteration and Björck steps per training step: deel-torchlip's DEFAULT_NITER_SPECTRAL / DEFAULT_NITER_BJORCK.
NITER_SPECTRAL = 3
NITER_BJORCK = 15
# At export, Björck runs until every singular value is within this of 1 (or EXPORT_BJORCK_MAX_ITER steps).
EXPORT_BJORCK_TOL = 1e-9
EXPORT_BJORCK_MAX_ITER = 500
# Float32 rounding of an orthonormal matrix can push sigma_max a few ulps above 1; shrink by this first.
EXPORT_SHRINK = 1 - 2e-6
# Lipschitz lower bound: gradient ascent from ASCENT_STARTS test images, ASCENT_STEPS steps of L2 length
# ASCENT_STEP_SIZE on the central difference quotient ||f(x + h v) - f(x - h v)|| / 2h (h = ASCENT_FD_STEP, v the
# top right singular vector of the Jacobian at x), which moves across the linear pieces of ReLU networks where the
# Jacobian norm itself has zero gradient.
ASCENT_STARTS = 200
ASCENT_STEPS = 8
ASCENT_STEP_SIZE = 0.25
ASCENT_FD_STEP = 0.05
# The best point is re-checked with a tiny central difference (float64): it must agree with the Jacobian norm.
CHECK_FD_STEP = 1e-6
CHECK_RELATIVE_TOLERANCE = 1e-3
# Power-iteration steps for the per-layer operator norms recorded for the 1-Lipschitz nets.
LAYER_NORM_ITERATIONS = 300
# Fashion-MNIST training mean and standard deviation (pixel / 255), the plain CNN's in-graph normalization.
FASHION_MEAN = 0.2860
FASHION_STD = 0.3530


# ---------------------------------------------------------------------------------------------------- data

def read_idx(path):
    """An unsigned-byte IDX file (gzip) as a numpy array: magic 0x0000 08 <rank>, big-endian int32 dims, bytes."""
    with gzip.open(path, 'rb') as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file; reinstall dataset-fashion-mnist")
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(rank)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def load_split(data_dir, split):
    """(bytes [n, 28, 28] uint8, labels [n] int64) of the 'train' or 't10k' split."""
    images = read_idx(os.path.join(data_dir, f'{split}-images-idx3-ubyte.gz'))
    labels = read_idx(os.path.join(data_dir, f'{split}-labels-idx1-ubyte.gz'))
    return images, labels.astype(np.int64)


def to_nchw(pixels):
    """uint8 [n, 28, 28] -> float32 [n, 1, 28, 28] in [0, 1] (byte / 255)."""
    return torch.from_numpy(pixels.astype(np.float32) / 255.0).unsqueeze(1)


# ---------------------------------------------------------------------------------------------------- normalizers

def spectral_normalize(w, u, niter):
    """w / sigma_max(w), sigma by `niter` power iterations from u: v = w^T u / |.|, u = w v / |.|, sigma = u^T w v.

    Returns (w / sigma, u); u carries over between training steps (Miyato et al. 2018).
    """
    with torch.no_grad():
        for _ in range(niter):
            v = F.normalize(w.t() @ u, dim=0)
            u = F.normalize(w @ v, dim=0)
    v = F.normalize(w.t() @ u, dim=0).detach()
    sigma = u @ (w @ v)
    return w / sigma, u


def bjorck_orthonormalize(w, niter):
    """`niter` Björck-Bowie steps w <- 3/2 w - 1/2 w w^T w (Anil et al. 2019), converging to the nearest
    orthonormal matrix when sigma_max(w) < sqrt(3); the Gram matrix is taken on the smaller side."""
    for _ in range(niter):
        if w.shape[0] <= w.shape[1]:
            w = 1.5 * w - 0.5 * (w @ w.t()) @ w
        else:
            w = 1.5 * w - 0.5 * w @ (w.t() @ w)
    return w


def export_orthonormal(w):
    """Float32 copy of w with every singular value in [1 - 1e-5, 1] and sigma_max <= 1 checked in float64 on the
    float32 values: power iteration to convergence (exact SVD), then Björck to EXPORT_BJORCK_TOL."""
    w = w.detach().double()
    w = w / torch.linalg.matrix_norm(w, ord=2)
    for _ in range(EXPORT_BJORCK_MAX_ITER):
        s = torch.linalg.svdvals(w)
        if float((s - 1).abs().max()) < EXPORT_BJORCK_TOL:
            break
        w = bjorck_orthonormalize(w, 1)
    w32 = (w * EXPORT_SHRINK).float()
    s = torch.linalg.svdvals(w32.double())
    if float(s.max()) > 1 or float(s.min()) < 1 - 1e-5:
        raise RuntimeError(f'Björck did not converge: singular values in [{float(s.min())}, {float(s.max())}]')
    return w32


def conv_lipschitz_coefficient(kernel, stride):
    """1 / sqrt(ceil(kh / s) ceil(kw / s)): each input pixel lies in at most that many patches, so a convolution
    whose reshaped kernel [out, in kh kw] has sigma_max <= 1 has an L2 operator norm <= 1 after this factor."""
    return 1.0 / math.sqrt(math.ceil(kernel / stride) ** 2)


# ---------------------------------------------------------------------------------------------------- layers

class OrthoLinear(nn.Module):
    """Dense layer with a spectrally normalized, Björck-orthonormalized weight (deel-torchlip's SpectralLinear)."""

    def __init__(self, fan_in, fan_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(fan_out, fan_in))
        nn.init.orthogonal_(self.weight)
        self.bias = nn.Parameter(torch.zeros(fan_out))
        self.register_buffer('u', F.normalize(torch.randn(fan_out), dim=0))

    def normalized_weight(self):
        w, u = spectral_normalize(self.weight, self.u, NITER_SPECTRAL)
        if self.training:
            self.u.copy_(u)
        return bjorck_orthonormalize(w, NITER_BJORCK)

    def forward(self, x):
        return F.linear(x, self.normalized_weight(), self.bias)

    def vanilla_export(self):
        plain = nn.Linear(self.weight.shape[1], self.weight.shape[0])
        with torch.no_grad():
            plain.weight.copy_(export_orthonormal(self.weight))
            plain.bias.copy_(self.bias)
        return plain


class OrthoConv2d(nn.Module):
    """Unpadded convolution whose reshaped kernel is orthonormalized like OrthoLinear, times
    conv_lipschitz_coefficient (deel-torchlip's SpectralConv2d; padding is a separate ZeroPad2d)."""

    def __init__(self, in_channels, out_channels, kernel, stride=1):
        super().__init__()
        self.stride = stride
        self.kernel = kernel
        self.coefficient = conv_lipschitz_coefficient(kernel, stride)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels * kernel * kernel))
        nn.init.orthogonal_(self.weight)
        # Nonzero biases: an all-zero L2 pooling window has an infinite gradient (d sqrt(s) / ds at 0).
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-0.1, 0.1))
        self.register_buffer('u', F.normalize(torch.randn(out_channels), dim=0))

    def kernel_shape(self):
        return (self.weight.shape[0], self.weight.shape[1] // self.kernel ** 2, self.kernel, self.kernel)

    def forward(self, x):
        w, u = spectral_normalize(self.weight, self.u, NITER_SPECTRAL)
        if self.training:
            self.u.copy_(u)
        w = bjorck_orthonormalize(w, NITER_BJORCK) * self.coefficient
        return F.conv2d(x, w.view(self.kernel_shape()), self.bias, stride=self.stride)

    def vanilla_export(self):
        out_channels, in_channels, _, _ = self.kernel_shape()
        plain = nn.Conv2d(in_channels, out_channels, self.kernel, stride=self.stride)
        with torch.no_grad():
            w = export_orthonormal(self.weight).double() * self.coefficient
            plain.weight.copy_(w.float().view(self.kernel_shape()))
            plain.bias.copy_(self.bias)
        return plain


def group_sort_2(x):
    """GroupSort with groups of 2 along dim 1, as deel-torchlip's functional.group_sort(x, 2) writes it: view as
    [N, C/2, 2, ...], min and max over the pair, concatenate, view back."""
    shape = x.shape
    grouped = x.view(shape[:1] + (shape[1] // 2, 2) + shape[2:])
    low = torch.min(grouped, 2, keepdim=True)[0]
    high = torch.max(grouped, 2, keepdim=True)[0]
    return torch.cat([low, high], dim=2).view(shape)


class GroupSort2(nn.Module):
    def forward(self, x):
        return group_sort_2(x)


class L2NormPool2d(nn.Module):
    """deel-torchlip's ScaledL2NormPool2d (k_coef_lip = 1), whose vanilla export is torch's LPPool2d(2):
    lp_pool2d(x, 2, k) = sqrt(k^2 avg_pool(x^2)) = the L2 norm of each window, 1-Lipschitz for stride = kernel.
    (No extra sqrt(k^2) factor: lp_pool2d already multiplies the average by the window area.)"""

    def __init__(self, kernel):
        super().__init__()
        self.kernel = kernel

    def forward(self, x):
        return F.lp_pool2d(x, 2, self.kernel)


class ZeroPad2d(nn.Module):
    """F.pad with zeros: an explicit Pad node in the export."""

    def __init__(self, pad):
        super().__init__()
        self.pad = pad

    def forward(self, x):
        return F.pad(x, (self.pad,) * 4)


class FlattenView(nn.Module):
    """x.view(x.size(0), -1): the TorchScript exporter writes Shape, Gather, Unsqueeze, Concat, Reshape."""

    def forward(self, x):
        return x.view(x.size(0), -1)


def vanilla_export(net):
    """The same Sequential with every Lipschitz layer replaced by its plain twin (deel-torchlip's vanilla_export)."""
    layers = [layer.vanilla_export() if hasattr(layer, 'vanilla_export') else layer for layer in net]
    return nn.Sequential(*layers).eval()


# ---------------------------------------------------------------------------------------------------- models

def torchlip_net():
    """deel-torchlip-style 1-Lipschitz network: [N,1,28,28] -> 10 logits."""
    return nn.Sequential(
        ZeroPad2d(1), OrthoConv2d(1, 16, 3), GroupSort2(), L2NormPool2d(2),    # 16 x 14 x 14
        ZeroPad2d(1), OrthoConv2d(16, 32, 3), GroupSort2(), L2NormPool2d(2),   # 32 x 7 x 7
        FlattenView(), OrthoLinear(32 * 7 * 7, 64), GroupSort2(), OrthoLinear(64, NUM_CLASSES))


class Normalize(nn.Module):
    """(x - mean) / std inside the graph: Sub and Div."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer('mean', torch.tensor(mean))
        self.register_buffer('std', torch.tensor(std))

    def forward(self, x):
        return (x - self.mean) / self.std


class ResidualBlock(nn.Module):
    """relu(x + bn(conv(relu(bn(conv(x))))))."""

    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(h)))


def plain_cnn():
    """Conv + BatchNorm + ReLU + MaxPool, a residual block, normalization in the graph: [N,1,28,28] -> 10."""
    return nn.Sequential(
        Normalize(FASHION_MEAN, FASHION_STD),
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 14 x 14
        ResidualBlock(16), nn.MaxPool2d(2),                                                # 16 x 7 x 7
        nn.Flatten(), nn.Linear(16 * 7 * 7, NUM_CLASSES))


class SoftmaxMlp(nn.Module):
    """Flatten, Linear + Tanh twice, Linear, Softmax: [N,1,28,28] -> 10 probabilities. Trained on the logits."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.Tanh(), nn.Linear(128, 64), nn.Tanh(),
                                  nn.Linear(64, NUM_CLASSES))

    def logits(self, x):
        return self.body(x)

    def forward(self, x):
        return F.softmax(self.body(x), dim=1)


def small_cnn():
    """Two strided convolutions and a dense head: [1,1,28,28] -> 10, exported with a fixed batch of 1."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(),    # 8 x 14 x 14
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),   # 16 x 7 x 7
        nn.Flatten(), nn.Linear(16 * 7 * 7, NUM_CLASSES))


class KerasStyleNhwc(nn.Module):
    """What tf2onnx writes for a Keras Conv2D-MaxPooling2D-Flatten-Dense model: NHWC input, Transpose to NCHW,
    Conv, Relu, MaxPool, Transpose back to NHWC (Keras flattens in HWC order), Reshape, MatMul + Add."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 5, padding=2)
        self.kernel = nn.Parameter(torch.empty(14 * 14 * 8, NUM_CLASSES))   # Keras Dense kernel: [in, out]
        nn.init.xavier_uniform_(self.kernel)
        self.bias = nn.Parameter(torch.zeros(NUM_CLASSES))

    def forward(self, x):
        x = x.permute(0, 3, 1, 2)
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        x = x.permute(0, 2, 3, 1).reshape(-1, 14 * 14 * 8)
        return x @ self.kernel + self.bias


# ---------------------------------------------------------------------------------------------------- training

def train(net, images, labels, epochs, lr, loss_kind='ce', logits_of=None):
    """Adam on shuffled mini-batches; returns the trained net in eval mode."""
    logits_of = logits_of or net
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    order_generator = torch.Generator().manual_seed(SEED)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(images.shape[0], generator=order_generator)
        for start in range(0, images.shape[0], BATCH_SIZE):
            idx = order[start:start + BATCH_SIZE]
            logits = logits_of(images[idx])
            if loss_kind == 'tau':
                loss = F.cross_entropy(logits * TAU, labels[idx]) / TAU
            else:
                loss = F.cross_entropy(logits, labels[idx])
            if not torch.isfinite(loss):
                raise RuntimeError(f'training diverged: loss {float(loss)}')
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return net.eval()


# ---------------------------------------------------------------------------------------------------- export

def export_torchscript(net, dummy, opset, input_name, output_name, batch_dim, preserve_batchnorm=False):
    """torch.onnx.export (TorchScript) to an onnx.ModelProto. batch_dim: the dim_param of a dynamic batch, or None
    for a fixed batch of dummy.shape[0]. preserve_batchnorm keeps BatchNormalization nodes (TrainingMode.PRESERVE on
    an eval-mode net) instead of folding them into the convolutions."""
    training = torch.onnx.TrainingMode.PRESERVE if preserve_batchnorm else torch.onnx.TrainingMode.EVAL

    def export(input_names, output_names, dynamic_axes):
        buffer = io.BytesIO()
        torch.onnx.export(net, dummy, buffer, opset_version=opset, input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, do_constant_folding=True, training=training)
        return onnx.load_from_string(buffer.getvalue())

    if input_name is None:
        # torch's default names (here 'onnx::Sub_0' and a number): read them from a first export.
        probe = export(None, None, None)
        input_name, output_name = probe.graph.input[0].name, probe.graph.output[0].name
    dynamic_axes = {input_name: {0: batch_dim}, output_name: {0: batch_dim}} if batch_dim else None
    model = export([input_name], [output_name], dynamic_axes)
    onnx.checker.check_model(model, full_check=True)
    return model


def dynamo_style_graph(vanilla, opset=18):
    """The vanilla torchlip network as torch.onnx.export(..., dynamo=True) writes it: fixed batch 1, static shapes
    (no Shape ops), opset 18 (ReduceMin/ReduceMax take axes as an input), Gemm with transB for Linear, Pad with
    pads as an initializer, lp_pool2d decomposed into Pow, AveragePool, Sign, Abs, Relu, Mul, Mul, Pow."""
    nodes, inits, infos = [], [], []
    counter = Counter()

    def fresh(base):
        counter[base] += 1
        return base if counter[base] == 1 else f'{base}_{counter[base] - 1}'

    def const(base, array):
        name = fresh(f'val_{base}')
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def info(name, shape):
        infos.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))

    x = torch.zeros(1, 1, 28, 28)
    current = 'input'
    with torch.no_grad():
        for index, layer in enumerate(vanilla):
            y = layer(x)
            if isinstance(layer, ZeroPad2d):
                p = layer.pad
                out = fresh('constant_pad_nd')
                nodes.append(helper.make_node('Pad', [current, const('pads', np.array([0, 0, p, p, 0, 0, p, p], np.int64)),
                                                      const('pad_value', np.array(0.0, np.float32))], [out], mode='constant'))
            elif isinstance(layer, nn.Conv2d):
                w = f'layers.{index}.weight'
                b = f'layers.{index}.bias'
                inits.append(numpy_helper.from_array(layer.weight.numpy(), w))
                inits.append(numpy_helper.from_array(layer.bias.numpy(), b))
                out = fresh('conv2d')
                k = list(layer.kernel_size)
                nodes.append(helper.make_node('Conv', [current, w, b], [out], kernel_shape=k, strides=list(layer.stride),
                                              pads=[0, 0, 0, 0], dilations=[1, 1], group=1))
            elif isinstance(layer, GroupSort2):
                shape = list(x.shape)
                grouped = shape[:1] + [shape[1] // 2, 2] + shape[2:]
                view = fresh('view')
                nodes.append(helper.make_node('Reshape', [current, const('shape', np.array(grouped, np.int64))], [view]))
                info(view, grouped)
                axes = const('axes', np.array([2], np.int64))
                low, high, cat = fresh('min'), fresh('max'), fresh('cat')
                nodes.append(helper.make_node('ReduceMin', [view, axes], [low], keepdims=1))
                nodes.append(helper.make_node('ReduceMax', [view, axes], [high], keepdims=1))
                kept = grouped[:2] + [1] + grouped[3:]
                info(low, kept)
                info(high, kept)
                nodes.append(helper.make_node('Concat', [low, high], [cat], axis=2))
                info(cat, grouped)
                out = fresh('view')
                nodes.append(helper.make_node('Reshape', [cat, const('shape', np.array(shape, np.int64))], [out]))
            elif isinstance(layer, L2NormPool2d):
                k = layer.kernel
                squared, avg, sign, absolute, relu, prod, scaled, out = (fresh(n) for n in (
                    'pow', 'avg_pool2d', 'sign', 'abs', 'relu', 'mul', 'mul', 'pow'))
                pooled = [1, x.shape[1], x.shape[2] // k, x.shape[3] // k]
                nodes.append(helper.make_node('Pow', [current, const('exponent', np.array(2.0, np.float32))], [squared]))
                info(squared, x.shape)
                nodes.append(helper.make_node('AveragePool', [squared], [avg], kernel_shape=[k, k], strides=[k, k],
                                              pads=[0, 0, 0, 0], ceil_mode=0, count_include_pad=1))
                nodes.append(helper.make_node('Sign', [avg], [sign]))
                nodes.append(helper.make_node('Abs', [avg], [absolute]))
                nodes.append(helper.make_node('Relu', [absolute], [relu]))
                nodes.append(helper.make_node('Mul', [sign, relu], [prod]))
                nodes.append(helper.make_node('Mul', [prod, const('area', np.array(float(k * k), np.float32))], [scaled]))
                nodes.append(helper.make_node('Pow', [scaled, const('root', np.array(0.5, np.float32))], [out]))
                for name in (avg, sign, absolute, relu, prod, scaled):
                    info(name, pooled)
            elif isinstance(layer, FlattenView):
                out = fresh('view')
                nodes.append(helper.make_node('Reshape', [current, const('shape', np.array(list(y.shape), np.int64))], [out]))
            elif isinstance(layer, nn.Linear):
                w = f'layers.{index}.weight'
                b = f'layers.{index}.bias'
                inits.append(numpy_helper.from_array(layer.weight.numpy(), w))
                inits.append(numpy_helper.from_array(layer.bias.numpy(), b))
                out = fresh('linear')
                nodes.append(helper.make_node('Gemm', [current, w, b], [out], transB=1))
            else:
                raise TypeError(f'no dynamo-style emitter for {type(layer).__name__}')
            info(out, y.shape)
            current, x = out, y
    # The graph output keeps its node's name, as the dynamo exporter does.
    infos = [i for i in infos if i.name != current]
    graph = helper.make_graph(nodes, 'main_graph',
                              [helper.make_tensor_value_info('input', TensorProto.FLOAT, [1, 1, 28, 28])],
                              [helper.make_tensor_value_info(current, TensorProto.FLOAT, list(x.shape))],
                              inits, value_info=infos)
    for i, node in enumerate(graph.node):
        node.name = f'node_{node.op_type}_{i}'
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)],
                              producer_name='tools/make-audit-fixtures.py (dynamo-style, onnx.helper)')
    # IR 8 is the newest onnx 1.12 writes; opset 18 (onnx 1.13) also uses IR 8.
    model.ir_version = 8
    return model


def run_graph_in_torch(model, x):
    """Evaluates the ops dynamo_style_graph emits with torch, to check the hand-built graph without onnxruntime."""
    values = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in model.graph.initializer}
    values[model.graph.input[0].name] = x
    for node in model.graph.node:
        a = {attr.name: helper.get_attribute_value(attr) for attr in node.attribute}
        i = [values[n] for n in node.input]
        op = node.op_type
        if op == 'Pad':
            p = i[1].tolist()
            half = len(p) // 2
            # ONNX pads: [x1_begin, x2_begin, ..., x1_end, ...]; F.pad: (last_begin, last_end, ...).
            torch_pads = [v for d in reversed(range(half)) for v in (p[d], p[d + half])]
            y = F.pad(i[0], torch_pads, value=float(i[2]))
        elif op == 'Conv':
            y = F.conv2d(i[0], i[1], i[2], stride=a['strides'])
        elif op == 'Reshape':
            y = i[0].reshape(i[1].tolist())
        elif op == 'ReduceMin':
            y = i[0].amin(dim=i[1].tolist(), keepdim=True)
        elif op == 'ReduceMax':
            y = i[0].amax(dim=i[1].tolist(), keepdim=True)
        elif op == 'Concat':
            y = torch.cat(i, dim=a['axis'])
        elif op == 'Pow':
            y = torch.pow(i[0], i[1])
        elif op == 'AveragePool':
            y = F.avg_pool2d(i[0], a['kernel_shape'], a['strides'])
        elif op == 'Sign':
            y = torch.sign(i[0])
        elif op == 'Abs':
            y = torch.abs(i[0])
        elif op == 'Relu':
            y = F.relu(i[0])
        elif op == 'Mul':
            y = i[0] * i[1]
        elif op == 'Gemm':
            y = F.linear(i[0], i[1], i[2])
        else:
            raise TypeError(f'run_graph_in_torch: unsupported op {op}')
        values[node.output[0]] = y
    return values[model.graph.output[0].name]


# ---------------------------------------------------------------------------------------------------- measures

def jacobian_norms(f, x):
    """Per-sample L2 operator norm of the Jacobian of f at x ([B, ...] float64) and its top right singular vector,
    by torch.autograd.functional.jacobian (one backward pass per output; the samples are independent) and SVD."""
    jac = torch.autograd.functional.jacobian(lambda z: f(z).sum(0), x)   # [K, B, ...]
    jac = jac.reshape(jac.shape[0], x.shape[0], -1).transpose(0, 1)      # [B, K, D]
    _, s, vh = torch.linalg.svd(jac, full_matrices=False)
    return s[:, 0], vh[:, 0, :].reshape(x.shape)


def lipschitz_lower_bound(net, starts):
    """Largest Jacobian norm met by gradient ascent (see ASCENT_*) from `starts` in [0, 1], in float64.

    Every Jacobian norm is a lower bound on the L2 Lipschitz constant. The best one is re-checked by a central
    difference quotient, itself a lower bound, which must agree to CHECK_RELATIVE_TOLERANCE.
    """
    f = copy.deepcopy(net).double().eval()
    for p in f.parameters():
        p.requires_grad_(False)
    # Positive jitter: exact zeros make ties (MaxPool over a blank background) where torch's Jacobian is one-sided.
    jitter = torch.rand(starts.shape, generator=torch.Generator().manual_seed(SEED), dtype=torch.float64)
    x = (starts.double() + 1e-3 * jitter).clamp(0, 1)
    best = torch.zeros(x.shape[0], dtype=torch.float64)
    best_x = x.clone()
    best_v = torch.zeros_like(x)
    per_sample = (-1,) + (1,) * (x.dim() - 1)
    for step in range(ASCENT_STEPS + 1):
        norms, v = jacobian_norms(f, x)
        better = norms > best
        best[better], best_x[better], best_v[better] = norms[better], x[better], v[better]
        if step == ASCENT_STEPS:
            break
        z = x.clone().requires_grad_(True)
        h = ASCENT_FD_STEP
        quotient = (f(z + h * v) - f(z - h * v)).norm(dim=1) / (2 * h)
        (grad,) = torch.autograd.grad(quotient.sum(), z)
        grad = grad / grad.flatten(1).norm(dim=1).clamp_min(1e-300).view(per_sample)
        x = (x + ASCENT_STEP_SIZE * grad).clamp(0, 1).detach()
    at = int(best.argmax())
    xb, vb = best_x[at:at + 1], best_v[at:at + 1]
    with torch.no_grad():
        check = float((f(xb + CHECK_FD_STEP * vb) - f(xb - CHECK_FD_STEP * vb)).norm() / (2 * CHECK_FD_STEP))
    bound = float(best[at])
    if abs(check - bound) > CHECK_RELATIVE_TOLERANCE * bound:
        raise RuntimeError(f'Jacobian norm {bound} and difference quotient {check} disagree at the best point')
    return {'lowerBound': bound, 'differenceQuotient': check, 'start': at,
            'medianOverStarts': float(best.median())}


def operator_norm(linear_map, shape, iterations=LAYER_NORM_ITERATIONS):
    """sigma_max of a linear map on inputs of `shape` (float64): power iteration on A^T A, A^T by autograd."""
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(SEED))
    with torch.enable_grad():
        for _ in range(iterations):
            z = (x / x.norm()).requires_grad_(True)
            y = linear_map(z)
            (x,) = torch.autograd.grad(y, z, y)
    return math.sqrt(float(x.norm()))


def layer_norms(vanilla):
    """L2 operator norm of each Conv (with the zero padding before it) and Gemm of the vanilla torchlip net. Every
    other layer is 1-Lipschitz, so the product bounds the network's constant (up to power-iteration accuracy)."""
    norms = []
    x = torch.zeros(1, 1, 28, 28, dtype=torch.float64)
    pad, unpadded = 0, x.shape
    with torch.no_grad():
        for layer in vanilla:
            if isinstance(layer, nn.Conv2d):
                w = layer.weight.double()
                p, stride = pad, layer.stride
                norm = operator_norm(lambda z: F.conv2d(F.pad(z, (p,) * 4), w, stride=stride), unpadded)
                norms.append({'layer': f'Conv {w.shape[1]}->{w.shape[0]} {w.shape[2]}x{w.shape[3]} on '
                                       f'{unpadded[2]}x{unpadded[3]}, zero padding {p}', 'norm': norm})
            elif isinstance(layer, nn.Linear):
                norm = float(torch.linalg.matrix_norm(layer.weight.double(), ord=2))
                norms.append({'layer': f'Gemm {layer.weight.shape[1]}->{layer.weight.shape[0]}', 'norm': norm})
            pad = layer.pad if isinstance(layer, ZeroPad2d) else 0
            unpadded = x.shape if isinstance(layer, ZeroPad2d) else None
            x = copy.deepcopy(layer).double()(x)
    if any(n['norm'] > 1 + 1e-9 for n in norms):
        raise RuntimeError(f'a layer of the 1-Lipschitz net has norm above 1: {norms}')
    return norms


def outputs_and_accuracy(net, images, labels, layout):
    """Float32 torch outputs of the first OUTPUT_IMAGES images and accuracy on all `images` (NCHW float32)."""
    x = images if layout == 'NCHW' else images.permute(0, 2, 3, 1).contiguous()
    with torch.no_grad():
        out = net(x)
    correct = int((out.argmax(dim=1) == labels).sum())
    rows = [[float(v) for v in row] for row in out[:OUTPUT_IMAGES].double()]
    return rows, correct


# ---------------------------------------------------------------------------------------------------- fixtures

def export_torchlip(net, probe):
    dynamo = dynamo_style_graph(net)
    with torch.no_grad():
        expected = net(probe)
        got = torch.cat([run_graph_in_torch(dynamo, probe[i:i + 1]) for i in range(probe.shape[0])])
    if float((expected - got).abs().max()) > 1e-5:
        raise RuntimeError(f'dynamo-style graph differs from the torch net by {float((expected - got).abs().max())}')
    return [
        ('torchlip', export_torchscript(net, torch.zeros(2, 1, 28, 28), 17, 'input', 'logits', 'batch'),
         'deel-torchlip-style 1-Lipschitz network exported by torch.onnx.export (TorchScript, opset 17, dynamic '
         'batch): explicit Pad, normalized Conv, GroupSort2 as Reshape + ReduceMin/ReduceMax + Concat with '
         'Shape/Gather/Unsqueeze/Cast/Div shape arithmetic, lp_pool2d as Pow, AveragePool, Sign, Abs, Relu, Mul, Mul, '
         'Pow, flatten by view(x.size(0), -1), Gemm head'),
        ('torchlip_dynamo', dynamo,
         'the same network and weights as torchlip.onnx, as torch.onnx.export(dynamo=True) writes it: opset 18, '
         'fixed batch 1, static shapes (no Shape ops), ReduceMin/ReduceMax with axes as an input; built with '
         'onnx.helper (torch 1.13 has no dynamo exporter) and checked by running it in torch, not by onnx 1.12\'s '
         'checker (opset <= 17)'),
    ]


def export_plain_cnn(net, _probe):
    return [('plain_cnn', export_torchscript(net, torch.zeros(2, 1, 28, 28), 14, None, None, 'N', preserve_batchnorm=True),
             'plain CNN exported by torch.onnx.export (opset 14, dynamic batch, torch\'s default tensor names): '
             '(x - mean) / std, Conv + BatchNormalization + Relu + MaxPool, a residual block (Add), Flatten, Gemm')]


def export_mlp_softmax(net, _probe):
    return [('mlp_softmax', export_torchscript(net, torch.zeros(2, 1, 28, 28), 13, 'image', 'probabilities', 'batch'),
             'MLP exported by torch.onnx.export (opset 13, dynamic batch): Flatten, Gemm + Tanh twice, Gemm, '
             'trailing Softmax (outputs are probabilities)')]


def export_batch1_cnn(net, _probe):
    return [('batch1_cnn', export_torchscript(net, torch.zeros(1, 1, 28, 28), 12, 'input', 'output', None),
             'small CNN exported by torch.onnx.export with a fixed batch of 1 (opset 12, no dynamic axes): strided '
             'Conv + Relu twice, Flatten, Gemm')]


def export_nhwc_keras(net, _probe):
    return [('nhwc_keras', export_torchscript(net, torch.zeros(2, 28, 28, 1), 13, 'input_1', 'dense', 'unk__6'),
             'NHWC graph as tf2onnx writes a Keras model (opset 13, input [unk__6, 28, 28, 1]): Transpose to NCHW, '
             'Conv, Relu, MaxPool, Transpose back, Reshape, MatMul + Add')]


# name, builder, epochs, learning rate, loss ('tau': TAU cross-entropy), layout, 1-Lipschitz by construction,
# output kind, export(net, 16 probe images) -> [(file name, ModelProto, description)].
FIXTURES = [
    ('torchlip', torchlip_net, 2, 5e-3, 'tau', 'NCHW', True, 'logits', export_torchlip),
    ('plain_cnn', plain_cnn, 1, 2e-3, 'ce', 'NCHW', False, 'logits', export_plain_cnn),
    ('mlp_softmax', SoftmaxMlp, 1, 2e-3, 'ce', 'NCHW', False, 'probabilities', export_mlp_softmax),
    ('batch1_cnn', small_cnn, 1, 2e-3, 'ce', 'NCHW', False, 'logits', export_batch1_cnn),
    ('nhwc_keras', KerasStyleNhwc, 1, 2e-3, 'ce', 'NHWC', False, 'logits', export_nhwc_keras),
]


def describe(model):
    graph = model.graph
    dims = lambda v: [d.dim_param if d.dim_param else d.dim_value for d in v.type.tensor_type.shape.dim]
    return {'opset': next(o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')),
            'irVersion': model.ir_version,
            'producer': f'{model.producer_name} {model.producer_version}'.strip(),
            'input': {'name': graph.input[0].name, 'shape': dims(graph.input[0])},
            'output': {'name': graph.output[0].name, 'shape': dims(graph.output[0])},
            'ops': dict(sorted(Counter(n.op_type for n in graph.node).items()))}


def to_json(value, indent=''):
    """json.dumps with one line per list of scalars (an image, a row of logits, a shape) and per other entry."""
    inner = indent + ' '
    if isinstance(value, dict):
        items = [f'{inner}{json.dumps(k)}: {to_json(v, inner)}' for k, v in value.items()]
        return '{\n' + ',\n'.join(items) + '\n' + indent + '}'
    if isinstance(value, list) and not all(isinstance(v, (int, float, str)) for v in value):
        return '[\n' + ',\n'.join(inner + to_json(v, inner) for v in value) + '\n' + indent + ']'
    return json.dumps(value, separators=(', ', ': ') if isinstance(value, list) else None)




def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='test/fixtures/audit', help='output folder (default: %(default)s)')
    parser.add_argument('--data', default='/usr/share/datasets/fashion-mnist', help='Fashion-MNIST IDX .gz folder')
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    # The TorchScript exporter warns about every Shape-dependent op it cannot fold; those ops are the point here.
    warnings.filterwarnings('ignore', category=UserWarning, module=r'torch\.onnx')
    os.makedirs(args.out, exist_ok=True)
    started = time.time()

    train_pixels, train_labels = load_split(args.data, 'train')
    test_pixels, test_labels = load_split(args.data, 't10k')
    pick = np.random.default_rng(SEED).permutation(train_pixels.shape[0])[:TRAIN_IMAGES]
    train_x, train_y = to_nchw(train_pixels[pick]), torch.from_numpy(train_labels[pick])
    test_x, test_y = to_nchw(test_pixels[:ACCURACY_IMAGES]), torch.from_numpy(test_labels[:ACCURACY_IMAGES])
    ascent_pick = np.sort(np.random.default_rng(SEED + 1).choice(test_pixels.shape[0], ASCENT_STARTS, replace=False))
    ascent_x = to_nchw(test_pixels[ascent_pick])

    # Files are written only once every model is made, so a failed run leaves the previous fixtures whole.
    files = {}
    files['images16.json'] = to_json({
        'source': 'Fashion-MNIST t10k images 0-15 (dataset-fashion-mnist)',
        'value': 'pixel = byte / 255; each row is one 28x28 image, row-major (the same bytes in NCHW and NHWC)',
        'labels': [int(v) for v in test_labels[:OUTPUT_IMAGES]],
        'bytes': [[int(v) for v in img.reshape(-1)] for img in test_pixels[:OUTPUT_IMAGES]]}) + '\n'

    data_note = {'train': f'{TRAIN_IMAGES} Fashion-MNIST training images (seeded subset)',
                 'accuracy': f'first {ACCURACY_IMAGES} t10k images', 'outputs': 'images16.json'}
    ascent_note = (f'max over {ASCENT_STARTS} seeded t10k images of the L2 norm of the logit Jacobian (float64, '
                   f'autograd + SVD) along {ASCENT_STEPS} gradient-ascent steps of L2 length {ASCENT_STEP_SIZE} on '
                   f'the central difference quotient (h = {ASCENT_FD_STEP}) along the top singular vector, inputs '
                   f'kept in [0, 1]')
    for name, build, epochs, lr, loss_kind, layout, one_lipschitz, output_kind, export in FIXTURES:
        t0 = time.time()
        torch.manual_seed(SEED)
        net = build()
        logits_of = net.logits if isinstance(net, SoftmaxMlp) else None
        train_in = train_x if layout == 'NCHW' else train_x.permute(0, 2, 3, 1).contiguous()
        net = train(net, train_in, train_y, epochs, lr, loss_kind, logits_of)
        if one_lipschitz:
            net = vanilla_export(net)
        trained = time.time() - t0

        variants = export(net, test_x[:OUTPUT_IMAGES])

        outputs, correct = outputs_and_accuracy(net, test_x, test_y, layout)
        starts = ascent_x if layout == 'NCHW' else ascent_x.permute(0, 2, 3, 1).contiguous()
        t1 = time.time()
        bound = lipschitz_lower_bound(net, starts)
        if one_lipschitz:
            norms = layer_norms(net)
            bound['layerNorms'] = norms
            bound['productOfLayerNorms'] = math.prod(n['norm'] for n in norms)
        measured = time.time() - t1
        for file_name, model, description in variants:
            files[f'{file_name}.onnx'] = model.SerializeToString()
            shape = describe(model)
            files[f'{file_name}.expected.json'] = to_json({
                'file': f'{file_name}.onnx',
                'description': description,
                **shape,
                'layout': layout,
                'inputRange': [0, 1],
                'outputKind': output_kind,
                'data': data_note,
                'outputs': outputs,
                'accuracy': {'images': ACCURACY_IMAGES, 'correct': correct, 'value': correct / ACCURACY_IMAGES},
                'lipschitz': {'oneLipschitzByConstruction': one_lipschitz, **bound, 'method': ascent_note},
                'torch': torch.__version__, 'onnx': onnx.__version__,
            }) + '\n'
            print(f'{file_name}: {len(files[file_name + ".onnx"])} bytes, accuracy {correct / ACCURACY_IMAGES:.3f}, '
                  f'Lipschitz >= {bound["lowerBound"]:.4f}', flush=True)
        print(f'  {name}: trained in {trained:.1f} s, lower bound in {measured:.1f} s', flush=True)
    for file_name, content in files.items():
        mode = 'wb' if isinstance(content, bytes) else 'w'
        with open(os.path.join(args.out, file_name), mode) as f:
            f.write(content)
    print(f'total {time.time() - started:.1f} s', flush=True)


if __name__ == '__main__':
    sys.exit(main())
