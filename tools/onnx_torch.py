"""A small ONNX -> PyTorch evaluator, so foolbox can attack the same ONNX file as `lip attack`.

    from onnx_torch import OnnxTorchModule
    net = OnnxTorchModule('models/fashion-mnist-ortho.onnx')   # torch.nn.Module, NCHW float32 in, logits out
    python3 tools/onnx_torch.py MODEL.onnx IMAGES.f32 N C H W  # prints the logits of the images as JSON

It interprets the graph node by node with differentiable torch ops (no onnx2torch,
no tracing), for the operators lip's exporter writes: Conv, Gemm, MatMul, Add,
Mul, Sub, Div, Relu, Reshape, Flatten, Transpose, Split, Min, Max, Concat,
Identity, Sqrt, AveragePool, SpaceToDepth, DepthToSpace. Any other operator
raises an error naming it. Needs `onnx` and `torch` (Debian: python3-onnx,
python3-torch).
"""
import json
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _conv(x, w, b=None, *, a):
    pads = a.get('pads', [0, 0, 0, 0])
    if a.get('auto_pad', b'NOTSET') not in (b'NOTSET', 'NOTSET'):
        raise ValueError('Conv: auto_pad is not supported, the exporter writes explicit pads')
    x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]))
    return F.conv2d(x, w, b, stride=a.get('strides', [1, 1]), dilation=a.get('dilations', [1, 1]), groups=a.get('group', 1))


def _gemm(x, w, c=None, *, a):
    if a.get('transA', 0):
        x = x.t()
    if a.get('transB', 0):
        w = w.t()
    y = a.get('alpha', 1.0) * (x @ w)
    return y if c is None else y + a.get('beta', 1.0) * c


def _reshape(x, shape, *, a):
    shape = [int(s) for s in shape.tolist()]
    # ONNX: 0 copies the input's dimension (allowzero = 0), -1 is inferred.
    shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


def _split(x, split=None, *, a):
    axis = a.get('axis', 0)
    sizes = a.get('split') if split is None else [int(s) for s in split.tolist()]
    if sizes is None:
        raise ValueError('Split without sizes is not supported')
    return tuple(torch.split(x, list(sizes), dim=axis))


def _average_pool(x, *, a):
    k = a['kernel_shape']
    pads = a.get('pads', [0, 0, 0, 0])
    if any(pads):
        if not a.get('count_include_pad', 0):
            raise ValueError('AveragePool with pads needs count_include_pad = 1')
        x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]))
    return F.avg_pool2d(x, k, stride=a.get('strides', k), ceil_mode=bool(a.get('ceil_mode', 0)))


def _space_to_depth(x, *, a):
    b = a['blocksize']
    n, c, h, w = x.shape
    y = x.reshape(n, c, h // b, b, w // b, b).permute(0, 3, 5, 1, 2, 4)
    return y.reshape(n, c * b * b, h // b, w // b)


def _depth_to_space(x, *, a):
    b = a['blocksize']
    n, c, h, w = x.shape
    if a.get('mode', b'DCR') in (b'CRD', 'CRD'):
        y = x.reshape(n, c // (b * b), b, b, h, w).permute(0, 1, 4, 2, 5, 3)
    else:
        y = x.reshape(n, b, b, c // (b * b), h, w).permute(0, 3, 4, 1, 5, 2)
    return y.reshape(n, c // (b * b), h * b, w * b)


def _variadic(op):
    def run(*xs, a):
        out = xs[0]
        for x in xs[1:]:
            out = op(out, x)
        return out
    return run


# One row per operator: ONNX op type -> torch implementation (inputs..., a=attributes).
OPS = {
    'Conv': _conv,
    'Gemm': _gemm,
    'MatMul': lambda x, w, *, a: x @ w,
    'Add': lambda x, y, *, a: x + y,
    'Sub': lambda x, y, *, a: x - y,
    'Mul': lambda x, y, *, a: x * y,
    'Div': lambda x, y, *, a: x / y,
    'Relu': lambda x, *, a: F.relu(x),
    'Sqrt': lambda x, *, a: torch.sqrt(x),
    'Identity': lambda x, *, a: x,
    'Reshape': _reshape,
    'Flatten': lambda x, *, a: x.reshape(int(np.prod(x.shape[:a.get('axis', 1)])), -1),
    'Transpose': lambda x, *, a: x.permute(*a['perm']),
    'Split': _split,
    'Min': _variadic(torch.minimum),
    'Max': _variadic(torch.maximum),
    'Concat': lambda *xs, a: torch.cat(xs, dim=a['axis']),
    'AveragePool': _average_pool,
    'SpaceToDepth': _space_to_depth,
    'DepthToSpace': _depth_to_space,
}


class OnnxTorchModule(torch.nn.Module):
    """The graph of an ONNX file as a torch module: one input (NCHW), its first output (logits)."""

    def __init__(self, path):
        super().__init__()
        model = onnx.load(path)
        graph = model.graph
        self.consts = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
        for node in graph.node:
            if node.op_type == 'Constant':
                self.consts[node.output[0]] = torch.from_numpy(numpy_helper.to_array(_attrs(node)['value']).copy())
        self.nodes = [n for n in graph.node if n.op_type != 'Constant']
        unknown = sorted({n.op_type for n in self.nodes} - set(OPS))
        if unknown:
            raise ValueError(f"{path}: operators {', '.join(unknown)} are not supported by tools/onnx_torch.py")
        self.input_name = next(i.name for i in graph.input if i.name not in self.consts)
        self.output_name = graph.output[0].name
        self.attrs = [_attrs(n) for n in self.nodes]

    def forward(self, x):
        values = dict(self.consts)
        values[self.input_name] = x
        for node, a in zip(self.nodes, self.attrs):
            args = [values[name] if name else None for name in node.input]
            while args and args[-1] is None:
                args.pop()
            out = OPS[node.op_type](*args, a=a)
            outs = out if isinstance(out, tuple) else (out,)
            for name, v in zip(node.output, outs):
                values[name] = v
        return values[self.output_name]


def main(argv):
    if len(argv) != 7:
        sys.exit('usage: onnx_torch.py MODEL.onnx IMAGES.f32 N C H W')
    path, images, n, c, h, w = argv[1], argv[2], *map(int, argv[3:])
    x = torch.from_numpy(np.fromfile(images, dtype=np.float32).reshape(n, c, h, w))
    torch.set_num_threads(1)
    with torch.no_grad():
        logits = OnnxTorchModule(path)(x)
    json.dump(logits.double().tolist(), sys.stdout)


if __name__ == '__main__':
    main(sys.argv)
