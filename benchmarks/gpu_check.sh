#!/usr/bin/env bash
# gantool on a CUDA machine, end to end, in about five minutes: see benchmarks/gpu_check.py.
# Exit status 0: all passed; 1: a check failed (printed with its output); 2: no CUDA device here.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m benchmarks.gpu_check "$@"
