#!/bin/sh
# Serve a baked-in model when the image has one (and no other was named); else the registry's champion
# (FARGA_TRACKING_URI names the MLflow server).
set -eu
# With baked models and no FARGA_COMPONENTS, the image serves the components it has models for.
baked=""
for model in /opt/farga-models/*/model.onnx; do
    [ -f "$model" ] || continue
    dir=$(dirname "$model")
    name=$(basename "$dir")
    var="FARGA_MODEL_DIR_$(echo "$name" | tr '[:lower:]' '[:upper:]')"
    eval "[ -n \"\${$var:-}\" ] || export $var=$dir"
    baked="${baked:+$baked,}$name"
done
if [ -z "${FARGA_COMPONENTS:-}" ] && [ -n "$baked" ]; then
    export FARGA_COMPONENTS="$baked"
fi
exec farga serve --host "${FARGA_HOST:-0.0.0.0}" --port "${FARGA_PORT:-8000}" --workers "${FARGA_WORKERS:-2}" "$@"
