#!/bin/sh
# Build the Python reference environment used by tools/ scripts (parity fixtures only; never a
# build or test dependency of vdm): diffusers v0.29.2 and huggingface_hub v0.23.4 run from
# source on Debian's python3-torch 1.13 (/usr/bin/python3), with the in-repo pure-Python
# `safetensors` stand-in (tools/pysafetensors). Downloads nothing except Debian packages.
#
# Usage (as root, or with the Debian packages already installed):
#   tools/setup_reference_env.sh DIFFUSERS_GIT_DIR HFHUB_GIT_DIR [PREFIX]
# DIFFUSERS_GIT_DIR / HFHUB_GIT_DIR: git directories (bare or .git) of clones of
#   https://github.com/huggingface/diffusers and https://github.com/huggingface/huggingface_hub
#   that contain the tags v0.29.2 and v0.23.4.
# PREFIX: where to build it (default /work/pyenv). Afterwards:
#   . PREFIX/env.sh && /usr/bin/python3 tools/make_safetensors_fixtures.py
set -eu

if [ $# -lt 2 ]; then
    sed -n '2,13p' "$0"; exit 2
fi
DIFFUSERS_GIT=$1
HFHUB_GIT=$2
PREFIX=${3:-/work/pyenv}
DIFFUSERS_TAG=v0.29.2
HFHUB_TAG=v0.23.4
REPO=$(cd "$(dirname "$0")/.." && pwd)

PKGS="python3-torch python3-numpy python3-packaging python3-filelock python3-requests \
python3-pil python3-yaml python3-tqdm python3-typing-extensions"
if ! /usr/bin/python3 -c 'import torch, numpy, packaging, filelock, requests, PIL, yaml, tqdm, typing_extensions' 2>/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages; run as root or: apt-get install -y $PKGS" >&2; exit 1
    fi
    apt-get update
    apt-get install -y $PKGS
fi

rm -rf "$PREFIX/diffusers" "$PREFIX/hfhub" "$PREFIX/meta"
mkdir -p "$PREFIX/diffusers" "$PREFIX/hfhub" "$PREFIX/meta/safetensors-0.4.3.dist-info"
git --git-dir="$DIFFUSERS_GIT" archive "$DIFFUSERS_TAG" src | tar -x -C "$PREFIX/diffusers"
git --git-dir="$HFHUB_GIT" archive "$HFHUB_TAG" src | tar -x -C "$PREFIX/hfhub"

# diffusers checks importlib.metadata.version("safetensors"); give the stand-in a dist-info.
cat > "$PREFIX/meta/safetensors-0.4.3.dist-info/METADATA" <<META
Metadata-Version: 2.1
Name: safetensors
Version: 0.4.3
Summary: vdm in-repo pure-Python stand-in (tools/pysafetensors)
META

cat > "$PREFIX/env.sh" <<ENV
# vdm reference Python environment (diffusers $DIFFUSERS_TAG + huggingface_hub $HFHUB_TAG from source,
# Debian python3-torch 1.13). Use with /usr/bin/python3.
export PYTHONPATH=$PREFIX/diffusers/src:$PREFIX/hfhub/src:$REPO/tools/pysafetensors:$PREFIX/meta\${PYTHONPATH:+:\$PYTHONPATH}
export HF_HUB_OFFLINE=1
export DIFFUSERS_NO_ADVISORY_WARNINGS=1
export VDM_PYTHON=/usr/bin/python3
ENV

. "$PREFIX/env.sh"
cd /tmp
/usr/bin/python3 -c "import diffusers, torch; print('diffusers', diffusers.__version__, 'torch', torch.__version__); \
from diffusers import UNet3DConditionModel, DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler, DDPMScheduler"
echo ". $PREFIX/env.sh" > "$PREFIX/READY"
echo "ready: . $PREFIX/env.sh"
