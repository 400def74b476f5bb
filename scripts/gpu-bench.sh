#!/usr/bin/env bash
# The bench on an NVIDIA GPU through ORT's WebGPU provider (fp16 weights and compute, plain attention), on a
# machine that has no Node.js and no network: everything it needs is packed into .devkit/ here, then carried.
#
#   scripts/gpu-bench.sh pack                 # here, after `npm ci`: device kit, bundled code, fixtures → .devkit/
#   scripts/gpu-bench.sh run [--full]         # there, from the project root, with .devkit/ carried
#
# `run` first checks the WebGPU outputs against the reference on the tiny set (parity, fp32, plain attention),
# then writes fp16 random weights on the machine's CPU and runs the bench: the 512x512 UNet step and the GEMM
# peak, then (with --full) every other item. Logs go to $OUT (or ./gpu-bench-out) as well as stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
KIT=.devkit
FIXTURES=${FIXTURES:-../shared/fixtures/kandinsky21}
DEVICE_KIT=${DEVICE_KIT:-../shared/tools/device-kit}
PARITY_CASES=clip_text,clip_vision,mclip,prior,unet,unet_inpaint,movq

# NVIDIA's Vulkan driver (libGLX_nvidia.so, named by its ICD file) needs the GL dispatch and X11 client libraries;
# without them Dawn finds no adapter ("Could not get 'vkCreateInstance'"). setup.sh unpacks every .deb in deb/.
GL_DEBS="libglvnd0 libglx0 libgl1 libegl1 libx11-6 libx11-xcb1 libxext6 libxcb1 libxau6 libxdmcp6 libbsd0 libmd0"

gl_debs() {
  local lists o
  lists=$(mktemp -d)
  o="-oAPT::Architecture=amd64 -oDir::State::Lists=$lists -oDir::Cache::archives=$lists"
  mkdir -p "$lists/partial"
  apt-get $o update >/dev/null
  # shellcheck disable=SC2086
  (cd "$KIT/deb" && apt-get $o download $GL_DEBS >/dev/null)
  rm -rf "$lists"
}

pack() {
  [ -f "$KIT/setup.sh" ] || "$DEVICE_KIT" "$KIT"
  ls "$KIT"/deb/libglvnd0_*.deb >/dev/null 2>&1 || gl_debs
  rm -rf "$KIT/app"
  # Our code as plain ESM bundles (onnxruntime-node stays external: its binding is unpacked by setup.sh).
  npx esbuild bench/main.ts bench/measure.ts src/parity/main.ts --bundle --minify --platform=node --format=esm \
    --target=node20 --outbase=. --outdir="$KIT/app" --external:onnxruntime-node --external:sharp --log-level=warning \
    --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
  tar -C node_modules --exclude=onnxruntime-node/bin -cJf "$KIT/ort-js.tar.xz" onnxruntime-node onnxruntime-common
  # The tiny set's component cases and the full-size configs (other fixture files are not needed there).
  tar -C "$FIXTURES" -cJf "$KIT/fixtures.tar.xz" full-configs tiny-a/cases.json tiny-a/cases.safetensors \
    tiny-a/prior tiny-a/decoder tiny-a/inpaint
  du -sh "$KIT"
  local mib=$(( $(du -sk "$KIT" | cut -f1) / 1024 ))
  [ "$mib" -lt 64 ] || { echo "$KIT is ${mib} MiB: over the 64 MiB a device call carries" >&2; exit 1; }
}

run() {
  local out=${OUT:-gpu-bench-out}
  mkdir -p "$out"
  # shellcheck disable=SC1091
  source "$KIT/setup.sh"
  tar -C node_modules -xJf "$KIT/ort-js.tar.xz"
  local fx=/tmp/k21
  mkdir -p "$fx" && tar -C "$fx" -xJf "$KIT/fixtures.tar.xz"
  node --version
  date -u +"%Y-%m-%dT%H:%MZ" | tee "$out/date.txt"
  echo "== parity: webgpu vs reference (tiny set, fp32, plain attention)"
  node "$KIT/app/src/parity/main.js" "$fx/tiny-a" --only "$PARITY_CASES" --provider webgpu --attention plain 2>&1 |
    tee "$out/parity.txt" || echo "!! parity FAILED on webgpu: the figures below are of wrong outputs"
  local bench=(node "$KIT/app/bench/main.js" --provider webgpu --models /tmp/random-full --configs "$fx/full-configs")
  echo "== bench: UNet 512 step and GEMM peak"
  "${bench[@]}" --quick 2>&1 | tee "$out/bench-quick.txt"
  if [ "${1:-}" = "--full" ]; then
    echo "== bench: every other item"
    "${bench[@]}" --only clip_text,clip_vision,prior,mclip,unet768,movq512,movq768 2>&1 | tee "$out/bench-rest.txt"
  fi
}

case "${1:-}" in
  pack) pack ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 pack | run [--full]" >&2; exit 2 ;;
esac
