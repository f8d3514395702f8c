#!/usr/bin/env bash
# Build the serving image with podman, run it, and make a prediction round-trip (CI: make image).
# No container registry is reachable here, so the base is a local Debian image made with debootstrap;
# elsewhere the same Containerfile builds on python:3.11-slim with Docker.
#   MODEL_DIR=path/to/models   bake models/symbols and models/fillmask from there (default: small models trained on synthetic data)
set -euo pipefail
cd "$(dirname "$0")/../.."
IMAGE=${IMAGE:-localhost/farga:ci}
BASE_IMAGE=${BASE_IMAGE:-localhost/debian-py:bookworm}
LIMIT_MB=${LIMIT_MB:-250}  # the serving bar: what the image adds to its Python base
PY=${PY:-.venv/bin/python}
PODMAN=(podman --runtime runc)
log() { printf '\033[1m== %s\033[0m\n' "$*"; }

need=()
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || need+=("$tool"); done
if ((${#need[@]})); then
    log "installing ${need[*]} (Debian packages)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap uidmap >/dev/null
fi

if ! "${PODMAN[@]}" image exists "$BASE_IMAGE"; then
    # the Debian mirror apt already uses here (the one line apt itself resolves for bookworm/main)
    mirror=$(apt-cache policy | awk '$3 == "bookworm/main" && $2 ~ /^https?:/ {print $2; exit}')
    mirror=${mirror:-http://deb.debian.org/debian}
    log "making the base image $BASE_IMAGE with debootstrap from $mirror"
    rootfs=$(mktemp -d)
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" "$mirror" >/dev/null
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | "${PODMAN[@]}" import - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
fi

model_dir=build/ci-model  # one folder per component, as models/ is
rm -rf "$model_dir" && mkdir -p "$model_dir"/symbols "$model_dir"/fillmask
if [[ -n "${MODEL_DIR:-}" ]]; then
    cp "$MODEL_DIR"/symbols/{model.onnx,labels.json,preprocessing.json} "$model_dir"/symbols/
    cp "$MODEL_DIR"/symbols/reference.npz "$model_dir"/symbols/ 2>/dev/null || true  # the monitor's drift reference
    cp "$MODEL_DIR"/fillmask/{model.onnx,tokenizer.json,words.json,ngram.npz} "$model_dir"/fillmask/
else
    log "training small models on synthetic data to bake in"
    "$PY" - "$model_dir" <<'PY'
import shutil, sys, tempfile
from pathlib import Path
import yaml
from farga import components
from farga.config import Settings, quiet_environment
from farga.pipeline import run_stage
quiet_environment(force=True)
params = yaml.safe_load(Path("params.yaml").read_text())
sym = params["symbols"]
sym["data"]["source"] = "synthetic"
sym["data"]["synthetic"].update(classes=12, samples_per_class=30, writers=4, seed=3)
sym["train"].update(epochs=2, batch_size=32)
sym["train"]["model"].update(channels=[8, 16, 32], hidden=32)
fm = params["fillmask"]
fm["data"]["source"] = "synthetic"
fm["contract"]["min_train_words"] = 1000
fm["train"].update(epochs=1, max_minutes=1, batch_tokens=1024)
fm["train"]["tokenizer"]["vocab_size"] = 300
fm["train"]["model"].update(dim=32, layers=1, heads=2, ffn=64)
fm["evaluate"].update(dev_positions=100)
files = {
    "symbols": ("model.onnx", "labels.json", "preprocessing.json", "reference.npz"),
    "fillmask": ("model.onnx", "tokenizer.json", "words.json", "ngram.npz"),
}
with tempfile.TemporaryDirectory() as tmp:
    root = Path(tmp)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    for name, keep in files.items():
        ctx = components.context(name, Settings(root=root))
        for stage in ("fetch", "prepare", "validate", "train"):
            run_stage(stage, ctx)
        for file in keep:
            shutil.copy(root / "models" / name / file, Path(sys.argv[1]) / name / file)
PY
fi

log "linting the Containerfile (hadolint)"
.venv/bin/hadolint Containerfile

log "building $IMAGE on $BASE_IMAGE"
"${PODMAN[@]}" build --format docker --network host \
    -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    --build-arg BASE="$BASE_IMAGE" --build-arg MODEL_SOURCE=baked --build-arg MODEL_DIR="$model_dir" \
    -f Containerfile -t "$IMAGE" .

base_bytes=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$BASE_IMAGE")
image_bytes=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$IMAGE")
added_mb=$(( (image_bytes - base_bytes) / 1000000 ))
user=$("${PODMAN[@]}" image inspect --format '{{.Config.User}}' "$IMAGE")
health=$("${PODMAN[@]}" image inspect --format '{{.Config.Healthcheck}}' "$IMAGE")
log "layers added to the base: ${added_mb} MB (limit ${LIMIT_MB}); user ${user}; healthcheck ${health:0:60}..."
(( added_mb < LIMIT_MB )) || { echo "the image adds ${added_mb} MB to its base: over ${LIMIT_MB} MB"; exit 1; }
[[ "$user" != "" && "$user" != 0* && "$user" != root* ]] || { echo "the image runs as root"; exit 1; }
[[ "$health" == *healthz* ]] || { echo "the image has no HEALTHCHECK"; exit 1; }

port=$("$PY" -c 'from farga.serving.process import free_port; print(free_port())')
name=farga-smoke-$$
log "running it on 127.0.0.1:$port"
"${PODMAN[@]}" run -d --name "$name" --network host --ulimit nofile=1024:1024 --ulimit nproc=32768:32768 \
    -e FARGA_HOST=127.0.0.1 -e FARGA_PORT="$port" "$IMAGE" >/dev/null
trap '"${PODMAN[@]}" logs "$name" 2>&1 | tail -20; "${PODMAN[@]}" rm -f "$name" >/dev/null' EXIT
for _ in $(seq 1 60); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    sleep 1
done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "not ready in 60 s"; exit 1; }
uid=$("${PODMAN[@]}" exec "$name" id -u)
[[ "$uid" != 0 ]] || { echo "the service runs as root"; exit 1; }
response=$(curl -sf -X POST "http://127.0.0.1:$port/v1/symbols/predict" -H 'content-type: application/json' \
    -d '{"strokes": [[{"x": 0, "y": 0}, {"x": 40, "y": 40}], [{"x": 0, "y": 40}, {"x": 40, "y": 0}]], "top_k": 3}')
"$PY" - "$response" <<'PY'
import json, sys
body = json.loads(sys.argv[1])
assert len(body["candidates"]) == 3, body
assert (body["model"]["source"], body["model"]["version"]) == ("directory", "local"), body["model"]  # the baked model
print(f"prediction round-trip: {body['candidates'][0]['latex']} ({body['candidates'][0]['score']:.2f}), model {body['model']['source']}")
PY
response=$(curl -sf -X POST "http://127.0.0.1:$port/v1/fillmask/predict" -H 'content-type: application/json' \
    -d '{"text": "Les cases de <mask> són molt grans.", "top_k": 3}')
"$PY" - "$response" <<'PY'
import json, sys
body = json.loads(sys.argv[1])
assert len(body["masks"]) == 1 and len(body["masks"][0]["candidates"]) == 3, body
assert (body["model"]["source"], body["model"]["version"]) == ("directory", "local"), body["model"]
print(f"fillmask round-trip: {body['masks'][0]['candidates'][0]['token']}, model {body['model']['source']}")
PY
"${PODMAN[@]}" healthcheck run "$name" && echo "HEALTHCHECK passes"
log "image OK: $IMAGE, +${added_mb} MB over its base, uid $uid"

MONITOR_IMAGE=${MONITOR_IMAGE:-localhost/farga-monitor:ci}
log "building $MONITOR_IMAGE (--target monitor)"
"${PODMAN[@]}" build --format docker --network host --target monitor \
    -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    --build-arg BASE="$BASE_IMAGE" -f Containerfile -t "$MONITOR_IMAGE" .
monitor_mb=$(( ($("${PODMAN[@]}" image inspect --format '{{.Size}}' "$MONITOR_IMAGE") - base_bytes) / 1000000 ))
mport=$("$PY" -c 'from farga.serving.process import free_port; print(free_port())')
mname=farga-monitor-smoke-$$
log "running the monitor on 127.0.0.1:$mport against the baked model (+${monitor_mb} MB over the base)"
[[ -f "$model_dir/symbols/reference.npz" ]] || { echo "no reference.npz in $model_dir/symbols: the monitor has nothing to compare with"; exit 1; }
"${PODMAN[@]}" run -d --name "$mname" --network host --ulimit nofile=1024:1024 --ulimit nproc=32768:32768 \
    -v "$PWD/$model_dir/symbols:/models/symbols:ro" -e FARGA_MODEL_DIR_SYMBOLS=/models/symbols \
    "$MONITOR_IMAGE" symbols --watch --host 127.0.0.1 --port "$mport" --interval 5 >/dev/null
trap '"${PODMAN[@]}" logs "$name" 2>&1 | tail -20; "${PODMAN[@]}" logs "$mname" 2>&1 | tail -20; "${PODMAN[@]}" rm -f "$name" "$mname" >/dev/null' EXIT
for _ in $(seq 1 60); do
    curl -sf "http://127.0.0.1:$mport/metrics" | grep -q '^farga_drift_window_size{component="symbols"}' && break
    sleep 1
done
curl -sf "http://127.0.0.1:$mport/metrics" | grep '^farga_drift_window_size{component="symbols"}' \
    || { echo "the monitor exports no drift metrics in 60 s"; exit 1; }
log "monitor image OK: $MONITOR_IMAGE, +${monitor_mb} MB over its base"
