#!/usr/bin/env bash
# The 2:4 pruning rule (variants/core/prune.h) against the seed's WeightNormSparsifier, with the
# GPU machine's PyTorch (design.md section 8): tests/gpu/prune_oracle.py.
set -u
py=${TORCH_PYTHON:-/opt/torch/.venv/bin/python}
if [ ! -x "$py" ]; then
    echo "FAIL prune oracle: no PyTorch at $py (set TORCH_PYTHON)"
    exit 1
fi
exec "$py" "$(dirname "$0")/prune_oracle.py"
