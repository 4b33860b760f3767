#!/usr/bin/env bash
# Issue 16, "training aids": does each aid help certified accuracy at the same budget?
#
# Trains the same recipe (default `fast`: 8 epochs, seed network) once per
# variant, same seed and budget: baseline, +augment shift, +augment
# shift-flip, +ema, +head-norm lln, and all of them; exports each checkpoint
# and measures it with `lip verify --json` on the test split. Prints one table
# row per variant: test accuracy and certified robust accuracy at 36/255,
# 72/255 and 108/255, training time. Build first (npx tsc -b).
#
#   tools/compare-training-aids.sh [--recipe fast] [--epochs N] [--limit N] [--seed S] [--ema 0.999]
#                                  [--out /tmp/aids] [--only baseline,ema,...] [--workers N]
#
# Smoke (minutes): tools/compare-training-aids.sh --limit 2000 --epochs 1
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LIP=(node "$ROOT/packages/cli/bin/lip.js")
RECIPE=fast
EPOCHS=""
LIMIT=""
SEED=42
EMA=0.999
OUT=/tmp/lip-training-aids
ONLY=""
WORKERS=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --recipe) RECIPE="$2"; shift 2 ;;
    --epochs) EPOCHS="$2"; shift 2 ;;
    --limit) LIMIT="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --ema) EMA="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --workers) WORKERS="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "compare-training-aids: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# name|extra lip train flags
VARIANTS=(
  "baseline|"
  "augment-shift|--augment shift"
  "augment-shift-flip|--augment shift-flip"
  "ema|--ema $EMA"
  "head-lln|--head-norm lln"
  "all|--augment shift-flip --ema $EMA --head-norm lln"
)

COMMON=(--recipe "$RECIPE" --seed "$SEED")
[[ -n "$EPOCHS" ]] && COMMON+=(--epochs "$EPOCHS")
[[ -n "$LIMIT" ]] && COMMON+=(--limit "$LIMIT")
[[ -n "$WORKERS" ]] && COMMON+=(--workers "$WORKERS")
# --limit also cuts the test split for lip train's validation; lip verify measures the whole test split.

mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
for row in "${VARIANTS[@]}"; do
  name="${row%%|*}"
  extra="${row#*|}"
  if [[ -n "$ONLY" && ",$ONLY," != *",$name,"* ]]; then continue; fi
  dir="$OUT/$name"
  rm -rf "$dir" "$dir.lock" "$dir.onnx" "$dir.verify.json"
  echo "== $name: lip train ${COMMON[*]} $extra" >&2
  start=$(date +%s.%N)
  # shellcheck disable=SC2086 # $extra is a list of flags
  "${LIP[@]}" train "${COMMON[@]}" $extra --out "$dir" >&2
  seconds=$(echo "$(date +%s.%N) - $start" | bc)
  "${LIP[@]}" export "$dir" -o "$dir.onnx" >&2
  "${LIP[@]}" verify "$dir.onnx" --eps 36/255,72/255,108/255 --json "$dir.verify.json" >&2
  node -e '
    const [file, name, extra, seconds] = process.argv.slice(1);
    const r = JSON.parse(require("fs").readFileSync(file, "utf8"));
    const cra = Object.fromEntries(r.cra.map((p) => [p.eps.toFixed(4), p.value]));
    console.log(JSON.stringify({ name, flags: extra, accuracy: r.accuracy, cra, certificate: r.certificateKind, seconds: Number(seconds) }));
  ' "$dir.verify.json" "$name" "$extra" "$seconds" >> "$RESULTS"
done

node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const eps = ["0.1412", "0.2824", "0.4235"];
  const line = (cells) => "| " + cells.join(" | ") + " |";
  console.log(line(["variant", "flags", "test acc", "CRA 36/255", "CRA 72/255", "CRA 108/255", "certificate", "train s"]));
  console.log(line(Array(8).fill("---")));
  for (const r of rows) {
    console.log(line([r.name, r.flags || "-", r.accuracy.toFixed(4), ...eps.map((e) => (r.cra[e] ?? NaN).toFixed(4)), r.certificate, r.seconds.toFixed(0)]));
  }
' "$RESULTS"
echo "(rows also in $RESULTS)" >&2
