#!/usr/bin/env bash
# CI check: rebuilds the kernels into a temporary directory and compares the
# bytes with the committed lip_kernels*.wasm and src/backend/kernels/lip_kernels_wasm.ts.
# A difference means a .c file changed without build.sh being run (or another
# compiler than Debian bookworm's clang 14 built the committed files).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$here/build.sh" "$tmp" "$tmp/lip_kernels_wasm.ts"
status=0
for f in lip_kernels.wasm lip_kernels_shared.wasm; do
  cmp "$tmp/$f" "$here/$f" || { echo "check.sh: kernels/$f is stale: run packages/train/kernels/build.sh" >&2; status=1; }
done
ts="$here/../src/backend/kernels/lip_kernels_wasm.ts"
cmp "$tmp/lip_kernels_wasm.ts" "$ts" || { echo "check.sh: src/backend/kernels/lip_kernels_wasm.ts is stale: run packages/train/kernels/build.sh" >&2; status=1; }
[ $status -eq 0 ] && echo "check.sh: the committed kernels match a rebuild ($(clang --version | head -n 1))"
exit $status
