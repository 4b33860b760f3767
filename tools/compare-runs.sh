#!/usr/bin/env bash
# Trains a set of variants at the same budget and measures each one the same
# way: `lip train`, `lip export`, then `lip verify --json` on the whole test
# split. Prints a Markdown table: test accuracy and certified robust accuracy
# (CRA) at each --eps, the certificate kind, training seconds. Build first
# (npx tsc -b).
#
# Sets (--set):
#   aids    issue 16's training aids on --recipe fast (8 epochs, seed network):
#           baseline, --augment shift, --augment shift-flip, --ema, --head-norm lln, all three
#           (also tools/compare-training-aids.sh)
#   models  architectures x losses, each 8 epochs of batch 512, Adam lr 5e-3 with cosine decay,
#           seed 42: the table in models/MODEL.md
#
#   tools/compare-runs.sh --set aids|models [--epochs N] [--limit N] [--seed S] [--ema 0.999]
#                         [--out DIR] [--only name,...] [--workers N] [--eps LIST] [--table]
#
# --table prints the table of the rows already in DIR/results.jsonl, training nothing.
#
# Smoke (minutes): tools/compare-runs.sh --set models --limit 2000 --epochs 1 --only seed-hkr
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LIP=(node "$ROOT/packages/cli/bin/lip.js")
SET=""
EPOCHS=""
LIMIT=""
SEED=42
EMA=0.999
OUT=""
ONLY=""
WORKERS=""
EPS=""
TABLE_ONLY=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --set) SET="$2"; shift 2 ;;
    --epochs) EPOCHS="$2"; shift 2 ;;
    --limit) LIMIT="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --ema) EMA="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --workers) WORKERS="$2"; shift 2 ;;
    --eps) EPS="$2"; shift 2 ;;
    --table) TABLE_ONLY=1; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "compare-runs: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# name|extra lip train flags
case "$SET" in
  aids)
    COMMON=(--recipe fast --seed "$SEED")
    VARIANTS=(
      "baseline|"
      "augment-shift|--augment shift"
      "augment-shift-flip|--augment shift-flip"
      "ema|--ema $EMA"
      "head-lln|--head-norm lln"
      "all|--augment shift-flip --ema $EMA --head-norm lln"
    )
    EPS="${EPS:-36/255,72/255,108/255}"
    OUT="${OUT:-/tmp/lip-training-aids}"
    ;;
  models)
    COMMON=(--epochs 8 --batch-size 512 --lr 5e-3 --lr-schedule cosine --seed "$SEED")
    VARIANTS=(
      "ortho-hkr|--arch ortho --loss hkr"
      "ortho-tau_cce|--arch ortho --loss tau_cce --tau 5"
      "ortho-lse_hkr|--arch ortho --loss lse_hkr"
      "ortho-soft_hkr|--arch ortho --loss soft_hkr"
      "ortho-margin_cce|--arch ortho --loss margin_cce"
      "ortho-hkr-lln|--arch ortho --loss hkr --head-norm lln"
      "seed-hkr|--arch seed --loss hkr"
      "seed-tau_cce|--arch seed --loss tau_cce --tau 5"
      "aol-hkr|--arch aol --loss hkr"
      "aol-tau_cce|--arch aol --loss tau_cce --tau 5"
      "sll-hkr|--arch sll --loss hkr"
      "sll-tau_cce|--arch sll --loss tau_cce --tau 5"
      "ortho-wide-hkr-lln|--arch ortho-wide --loss hkr --head-norm lln"
    )
    EPS="${EPS:-36/255,72/255,108/255,0.5,1.0}"
    OUT="${OUT:-/tmp/lip-compare-models}"
    ;;
  *) echo "compare-runs: --set must be aids or models, got '$SET' (see --help)" >&2; exit 2 ;;
esac

[[ -n "$EPOCHS" ]] && COMMON+=(--epochs "$EPOCHS")
[[ -n "$LIMIT" ]] && COMMON+=(--limit "$LIMIT")
[[ -n "$WORKERS" ]] && COMMON+=(--workers "$WORKERS")
# --limit also cuts the test split for lip train's validation; lip verify measures the whole test split.

RESULTS="$OUT/results.jsonl"
if [[ -n "$TABLE_ONLY" ]]; then
  [[ -f "$RESULTS" ]] || { echo "compare-runs: --table: $RESULTS does not exist; run the set first" >&2; exit 2; }
  VARIANTS=()
else
  mkdir -p "$OUT"
  : > "$RESULTS"
fi
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
  "${LIP[@]}" verify "$dir.onnx" --eps "$EPS" --json "$dir.verify.json" >&2
  node -e '
    const [file, name, extra, seconds] = process.argv.slice(1);
    const r = JSON.parse(require("fs").readFileSync(file, "utf8"));
    console.log(JSON.stringify({ name, flags: extra, accuracy: r.accuracy, cra: r.cra, certificate: r.certificateKind, seconds: Number(seconds) }));
  ' "$dir.verify.json" "$name" "$extra" "$seconds" >> "$RESULTS"
done

node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const labels = process.argv[2].split(",");
  const line = (cells) => "| " + cells.join(" | ") + " |";
  console.log(line(["variant", "flags", "test acc", ...labels.map((e) => `CRA ${e}`), "certificate", "train s"]));
  console.log(line(Array(labels.length + 5).fill("---")));
  for (const r of rows) {
    const cra = labels.map((_, i) => (r.cra[i] ? r.cra[i].value.toFixed(4) : "-"));
    console.log(line([r.name, r.flags ? "`" + r.flags + "`" : "-", r.accuracy.toFixed(4), ...cra, r.certificate, r.seconds.toFixed(0)]));
  }
' "$RESULTS" "$EPS"
echo "(rows also in $RESULTS)" >&2
