#!/usr/bin/env bash
# Issue 16, "training aids": tools/compare-runs.sh --set aids (see there).
exec "$(dirname "${BASH_SOURCE[0]}")/compare-runs.sh" --set aids "$@"
