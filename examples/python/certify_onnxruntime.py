"""Certified predictions with onnxruntime for Python (pip install onnxruntime numpy).
usage: python3 certify_onnxruntime.py MODEL.onnx t10k-images-idx3-ubyte.gz [N]"""
import gzip
import json
import sys

import numpy as np
import onnxruntime as ort

from lip_certificate import certify

model, images, n = sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 10
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
meta = session.get_modelmeta().custom_metadata_map
names = json.loads(meta["class_names"]) if "class_names" in meta else None
with gzip.open(images) as f:  # IDX: 16-byte header, then n x 28 x 28 bytes
    x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:n]
(logits,) = session.run(None, {session.get_inputs()[0].name: x.astype(np.float32) / np.float32(255)})
for i, (label, radius) in enumerate(certify(logits, meta)):
    print(i, label, names[label] if names else label, f"{radius:.6f}")
