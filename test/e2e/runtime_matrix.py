"""The Python side of test/e2e/runtime_matrix.test.ts, run with Debian's python3.

    python3 runtime_matrix.py checker MANIFEST.json   -> {id: "ok" | "skipped: ..." | "error: ..."}
    python3 runtime_matrix.py opencv MANIFEST.json    -> {id: {"logits": [...]} | {"error": "..."}}

MANIFEST.json: [{"id", "file" (.onnx), "input" (raw little-endian float32), "dims"}].
Prints one JSON object on stdout. Exit 3 when the module (onnx, cv2) is missing.
"""
import importlib
import json
import sys


def modules_or_exit(*names):
    """The named modules; exit 3 when one is missing."""
    try:
        return [importlib.import_module(name) for name in names]
    except ImportError:
        sys.exit(3)


def checker(entries):
    (onnx,) = modules_or_exit("onnx")
    out = {}
    for e in entries:
        model = onnx.load(e["file"])
        if model.ir_version > onnx.IR_VERSION:
            # onnx 1.12 (Debian 12) knows IR <= 8, that is opsets <= 18; newer files cannot be checked by it.
            out[e["id"]] = "skipped: IR version %d is newer than this onnx %s checks (IR %d)" % (
                model.ir_version, onnx.__version__, onnx.IR_VERSION)
            continue
        try:
            onnx.checker.check_model(model, full_check=True)
            out[e["id"]] = "ok"
        except Exception as err:  # noqa: BLE001 - every checker failure is a finding
            out[e["id"]] = "error: %s" % str(err).strip().splitlines()[0]
    return out


def opencv(entries):
    cv2, np = modules_or_exit("cv2", "numpy")
    out = {}
    for e in entries:
        try:
            net = cv2.dnn.readNetFromONNX(e["file"])
            x = np.fromfile(e["input"], dtype="<f4").reshape(e["dims"])
            net.setInput(x)
            out[e["id"]] = {"logits": net.forward().astype(np.float64).ravel().tolist()}
        except Exception as err:  # noqa: BLE001 - a refusal is a finding
            lines = [l.strip("> ") for l in str(err).splitlines() if "error" in l.lower()]
            out[e["id"]] = {"error": lines[-1] if lines else repr(err)}
    return out


if __name__ == "__main__":
    mode, manifest = sys.argv[1], sys.argv[2]
    with open(manifest) as f:
        entries = json.load(f)
    result = {"checker": checker, "opencv": opencv}[mode](entries)
    json.dump(result, sys.stdout)
