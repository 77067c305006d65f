#!/usr/bin/env bash
# One GPU loan, prepared: the VRAM estimator against real CUDA peaks, side by side on one large GPU (bench/vram_accuracy.py):
# the fixture's 24 configurations, configurations it does not hold, and long runs of variable-length batches
# (max reserved, with and without expandable segments). Results land in $OUT (measured.jsonl as rows finish).
#   on the device, from the project root:  bash bench/gpu_checks.sh          (needs .whl/site.tgz: bash ../shared/gpu/fetch-wheels.sh)
#   on the CPU, to check the machinery:     bash bench/gpu_checks.sh --dry
set -u
OUT=${OUT:-$PWD/gpu-out}; mkdir -p "$OUT"
if [ "${1:-}" = "--dry" ]; then
  exec python bench/vram_accuracy.py --dry --sets long,more,grid --lanes 3 --out "$OUT"
fi
if [ -f .whl/site.tgz ]; then mkdir -p /tmp/site && tar xzf .whl/site.tgz -C /tmp/site; fi
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
unset PYTORCH_CUDA_ALLOC_CONF
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1; df -h /tmp >> "$OUT/nvidia-smi.txt" 2>&1
python3 -c "import torch, transformers, peft, trl, bitsandbytes as b; print(torch.__version__, torch.version.cuda, transformers.__version__, peft.__version__, trl.__version__, b.__version__)" 2>&1 | tee "$OUT/versions.txt"
timeout ${LIMIT:-420} python3 bench/vram_accuracy.py --sets ${SETS:-long,more,grid} --lanes ${LANES:-8} --budget ${BUDGET:-270} --kill-after ${KILL:-170} \
  --long-steps ${STEPS:-300} --root /tmp/pbv --out "$OUT" 2>&1 | tee "$OUT/log.txt"
echo "exit $?"; ls -la "$OUT"
