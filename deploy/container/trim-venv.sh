#!/usr/bin/env bash
# Trim a built venv to what a service loads (both images use it): pip and setuptools, test suites,
# bytecode caches, ONNX Runtime's offline tooling (quantisation, transformer optimisers), and extension
# modules' debug symbols -- except in the libraries auditwheel vendored and patched (stripping those
# leaves them unloadable).
set -euo pipefail
venv=${1:-/opt/farga}
"$venv"/bin/pip uninstall -y pip setuptools
site=$(echo "$venv"/lib/python3*/site-packages)
find "$site" -depth -type d \( -name tests -o -name __pycache__ \) -exec rm -rf {} +
rm -rf "$site"/onnxruntime/transformers "$site"/onnxruntime/quantization "$site"/onnxruntime/tools \
    "$site"/onnxruntime/datasets
# tokenizers' Hugging Face Hub client: a fillmask model carries its tokenizer file, nothing is downloaded
rm -rf "$site"/huggingface_hub "$site"/hf_xet
find "$site" -name '*.so*' -type f ! -path '*.libs/*' -exec sh -c \
    'for so; do readelf -d "$so" | grep -q "R.*PATH.*\.libs" || strip --strip-unneeded "$so"; done' _ {} +
