#!/usr/bin/env bash
# Multi-GPU GRPO launcher: validates the config and data on CPU first (--dry-run), then starts TRL under accelerate
# with the DeepSpeed ZeRO-3 config named in the TOML's [launch] table.
#   scripts/train_gpu.sh configs/train/gpu_qwen3_8b.toml [--resume]
# Needs: pip install -e '.[train]' deepspeed vllm (on the GPU machine, torch with CUDA first; see DEVELOPERS.md).
set -euo pipefail
CONFIG=${1:?usage: scripts/train_gpu.sh CONFIG.toml [--resume]}
shift
deltamem train --config "$CONFIG" --dry-run
read -r ACCEL NPROC < <(python - "$CONFIG" <<'PY'
import sys
from deltamem.train.config import load_train_config
c = load_train_config(sys.argv[1])
print(c.launch.accelerate_config or "", c.launch.num_processes)
PY
)
if [[ -z "$ACCEL" ]]; then
  echo "error: $CONFIG has no [launch] accelerate_config" >&2
  exit 1
fi
exec accelerate launch --config_file "$ACCEL" --num_processes "$NPROC" \
  -m deltamem.train --config "$CONFIG" "$@"
