#!/usr/bin/env bash
# The wheel, end to end: `python -m build` makes the sdist and, from it, the wheel; the wheel
# installs in a fresh virtualenv (with the export extra) and works from outside the checkout:
# `charwise --help`, the built-in corpora, `charwise serve`'s static files, the report assets
# and the export page, then a tiny train -> sample -> inspect -> export hf / onnx (and web
# where `make ort-web` vendored onnxruntime-web before the build: the wheel then carries it).
#
# Slow (the fresh virtualenv installs torch): a bench / CI step, not part of the test suite.
#   bash bench/wheel_check.sh            # PY=python3.11 to choose the interpreter
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say() { printf '\n== %s\n' "$*"; }

say "build (sdist, then the wheel from it)"
$PY -m venv "$work/build-env"
"$work/build-env/bin/pip" install -q build
"$work/build-env/bin/python" -m build --outdir "$work/dist" "$root" >"$work/build.log" 2>&1 \
    || { tail -30 "$work/build.log"; exit 1; }
whl=$(ls "$work"/dist/charwise-*.whl)
ls -l "$work/dist"

say "install into a fresh virtualenv: $(basename "$whl")[export]"
$PY -m venv "$work/venv"
# torch first, as the Makefile installs it (the local CPU build here; TORCH=... to choose):
# left to the wheel's `torch>=2.3`, pip may fetch the newest CUDA build, gigabytes.
"$work/venv/bin/pip" install -q "${TORCH:-torch==2.13.0}"
"$work/venv/bin/pip" install -q "$whl[export]"
bin="$work/venv/bin"
cd "$work"  # away from the checkout: only the installed copy can be imported

say "charwise --help"
"$bin/charwise" --help | head -5
"$bin/charwise" corpora

say "package files"
"$bin/python" - <<'EOF'
from importlib import resources
from pathlib import Path

import charwise

pkg = resources.files("charwise")
assert "site-packages" in str(pkg), f"charwise imported from {pkg}, not the wheel"
need = [
    "web/static/index.html", "web/static/app.js", "web/static/style.css",
    "inspect/report.html", "inspect/report.js", "inspect/report.css",
    "inspect/viewer.js", "inspect/viewer.css",
    "export/web_assets/index.html", "export/web_assets/page.js",
    "export/web_assets/sampler.js", "export/web_assets/ort-LICENSE.txt",
]
missing = [n for n in need if not (pkg / n).is_file()]
assert not missing, f"missing from the wheel: {missing}"
ort = [p.name for p in Path(str(pkg / "export/web_assets/ort")).glob("*")] if (pkg / "export/web_assets/ort").is_dir() else []
print(f"charwise {charwise.__version__} from {pkg}: {len(need)} asset files present")
print("onnxruntime-web vendored in the wheel:", sorted(ort) or "no (run `make ort-web` before building)")
EOF

say "train (built-in corpus), sample, inspect, export"
"$bin/charwise" train --corpus names --out run --max-steps 20 --layers 1 --hidden 32 --embed 8 \
    --batch-size 8 --seq-len 16 --eval-every 10 --sample-every 10 --device cpu >train.log 2>&1 \
    || { tail -20 train.log; exit 1; }
"$bin/charwise" sample run --length 80 --seed 1
"$bin/charwise" inspect run --corpus-split val --max-chars 300 --out report.html
test -s report.html
"$bin/charwise" export run --to hf --format hf
"$bin/charwise" export run --to onnx --format onnx
if [ -f "$("$bin/python" -c 'import charwise.export.ortweb as o; print(o.VENDORED / "ort.wasm.bundle.min.js")')" ]; then
    "$bin/charwise" export run --to web --format web
else
    echo "(web export skipped: this wheel carries no onnxruntime-web)"
fi
say "wheel check passed"
