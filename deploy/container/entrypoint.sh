#!/bin/sh
# Serve a baked-in model when the image has one (and no other was named); else the registry's champion
# (FARGA_TRACKING_URI names the MLflow server).
set -eu
if [ -z "${FARGA_MODEL_DIR_SYMBOLS:-}" ] && [ -f /opt/farga-models/symbols/model.onnx ]; then
    export FARGA_MODEL_DIR_SYMBOLS=/opt/farga-models/symbols
fi
exec farga serve --host "${FARGA_HOST:-0.0.0.0}" --port "${FARGA_PORT:-8000}" --workers "${FARGA_WORKERS:-2}" "$@"
