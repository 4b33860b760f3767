"""Runs one foolbox 3 attack on an ONNX file, for `npm run bench:attacks` (tools/bench-attacks.js).

    python3 tools/foolbox_attacks.py --model M.onnx --images X.f32 --labels Y.i32 --shape N,C,H,W \
        --attack fmn|pgd|deepfool|hsja|cw [--eps E] [--cw-steps S --cw-binary-search-steps B] \
        --out ADV.f32 [--seed S]
    python3 tools/foolbox_attacks.py --probe     # prints the foolbox and torch versions, or fails

Reads N float32 images (NCHW, row-major) and N int32 labels (the classes to move
away from), runs the attack with foolbox's defaults on the graph through
tools/onnx_torch.py, writes the adversarials (float32, same layout; foolbox's
clipped output) to --out and prints one JSON line: the seconds the attack took
and the successes foolbox itself counted. The benchmark then re-checks every
adversarial in onnxruntime, as it does lip's.

Setup (nothing of foolbox is committed here):
    apt-get install python3-torch python3-scipy python3-onnx    # Debian 12: torch 1.13, scipy 1.10, onnx 1.12
    git clone https://github.com/bethgelab/foolbox  /opt/foolbox    # tested at 2513a9a (3.3.4)
    git clone https://github.com/jonasrauber/eagerpy /opt/eagerpy   # 0.30.0
    export FOOLBOX_SRC=/opt/foolbox EAGERPY_SRC=/opt/eagerpy
foolbox imports GitPython only for its model zoo (`foolbox.zoo`); a stub
`git` module stands in for it here, so python3-git is not needed.
"""
import argparse
import json
import os
import sys
import time
import types

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
for var in ('EAGERPY_SRC', 'FOOLBOX_SRC'):
    if os.environ.get(var):
        sys.path.insert(0, os.environ[var])
if 'git' not in sys.modules:
    try:
        import git  # noqa: F401
    except ImportError:
        stub = types.ModuleType('git')
        stub.Repo = object
        sys.modules['git'] = stub

import foolbox as fb  # noqa: E402
from onnx_torch import OnnxTorchModule  # noqa: E402


def make_attack(args):
    """foolbox's attack with its defaults, and the epsilon to call it with (None: minimization)."""
    if args.attack == 'fmn':
        return fb.attacks.L2FMNAttack(), None
    if args.attack == 'pgd':
        return fb.attacks.L2ProjectedGradientDescentAttack(), args.eps
    if args.attack == 'deepfool':
        return fb.attacks.L2DeepFoolAttack(), None
    if args.attack == 'hsja':
        return fb.attacks.HopSkipJumpAttack(), None
    if args.attack == 'cw':
        return fb.attacks.L2CarliniWagnerAttack(binary_search_steps=args.cw_binary_search_steps, steps=args.cw_steps), None
    raise SystemExit(f"--attack must be fmn, pgd, deepfool, hsja or cw, got '{args.attack}'")


def main():
    if sys.argv[1:] == ['--probe']:
        print(json.dumps({'foolbox': fb.__version__, 'torch': torch.__version__}))
        return
    p = argparse.ArgumentParser()
    p.add_argument('--model', required=True)
    p.add_argument('--images', required=True)
    p.add_argument('--labels', required=True)
    p.add_argument('--shape', required=True)
    p.add_argument('--attack', required=True)
    p.add_argument('--eps', type=float, default=None)
    p.add_argument('--cw-steps', type=int, default=8000)
    p.add_argument('--cw-binary-search-steps', type=int, default=6)
    p.add_argument('--bounds', default='0,1')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', required=True)
    args = p.parse_args()
    if args.attack == 'pgd' and args.eps is None:
        raise SystemExit('--attack pgd needs --eps')

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    shape = tuple(int(s) for s in args.shape.split(','))
    x = torch.from_numpy(np.fromfile(args.images, dtype=np.float32).reshape(shape))
    labels = torch.from_numpy(np.fromfile(args.labels, dtype=np.int32).astype(np.int64))
    lo, hi = (float(b) for b in args.bounds.split(','))
    fmodel = fb.PyTorchModel(OnnxTorchModule(args.model).eval(), bounds=(lo, hi))
    attack, eps = make_attack(args)

    started = time.time()
    _, clipped, success = attack(fmodel, x, labels, epsilons=eps)
    seconds = time.time() - started
    clipped.detach().numpy().astype(np.float32).tofile(args.out)
    print(json.dumps({'attack': args.attack, 'foolbox': fb.__version__, 'seconds': seconds,
                      'success': int(success.sum().item()), 'n': shape[0]}))


if __name__ == '__main__':
    main()
