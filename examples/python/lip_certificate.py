"""The certified L2 radius of a lip-exported model's prediction, from its logits and metadata
(the arithmetic of lip verify and @lip/runtime)."""
import json

import numpy as np


def certify(logits, meta):
    """Predicted class and certified radius of each row of `logits` ([n, classes])."""
    L = float(meta["lipschitz_constant"])
    head = "head_row_distances" in meta
    if head:
        D = np.array(json.loads(meta["head_row_distances"]))
        L_body = float(meta["head_body_lipschitz"])
    out = []
    for f in np.asarray(logits, dtype=np.float64):
        y = int(np.argmax(f))
        j = np.arange(len(f)) != y
        # f_y - f_j, less an allowance for float32 rounding of the logits
        margin = np.maximum(0, f[y] - f[j] - 1e-5 * (abs(f[y]) + abs(f[j]) + 1))
        r = np.min(margin) / (np.sqrt(2) * L)  # (top1 - top2) / (sqrt(2) L)
        if head:  # min_j (f_y - f_j) / (||w_y - w_j|| L_body)
            d = D[y, j] * L_body
            r = max(r, np.min(np.where(d > 0, margin / np.where(d > 0, d, 1), np.where(margin > 0, np.inf, 0))))
        out.append((y, float(r)))
    return out
