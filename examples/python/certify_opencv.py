"""Certified predictions with OpenCV's DNN module (Debian: apt-get install python3-opencv python3-onnx).
usage: python3 certify_opencv.py MODEL.onnx t10k-images-idx3-ubyte.gz [N]"""
import gzip
import json
import sys

import cv2
import numpy as np
import onnx

from lip_certificate import certify

model, images, n = sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 10
meta = {p.key: p.value for p in onnx.load(model).metadata_props}
names = json.loads(meta["class_names"]) if "class_names" in meta else None
with gzip.open(images) as f:  # IDX: 16-byte header, then n x 28 x 28 bytes
    x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:n]
net = cv2.dnn.readNetFromONNX(model)
net.setInput(x.astype(np.float32) / np.float32(255))  # NCHW in [0, 1], the metadata's input_range
for i, (label, radius) in enumerate(certify(net.forward(), meta)):
    print(i, label, names[label] if names else label, f"{radius:.6f}")
