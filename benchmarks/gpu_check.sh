#!/usr/bin/env bash
# snnctl on a GPU machine, in one run (never part of CI): run from the repository root, after
#   pip install -e ".[test]" && pip install --no-deps spikingjelly==2.0.0
# 1. benchmarks/gpu_check.py: neurons and SMA + AZO on CUDA against the CPU, one training step of every
#    built-in model in fp32 / bf16 / fp16 (GradScaler), and the training-step benchmark on CUDA;
# 2. a 1-process NCCL DDP run of snnctl train (torchrun), then evaluate of what it wrote.
set -u
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SNNCTL_CACHE="$work/cache"
status=0
python benchmarks/gpu_check.py "$@" || status=1
echo
echo "== 1-process NCCL DDP: snnctl train under torchrun"
if torchrun --standalone --nproc-per-node 1 -m snnctl train --device cuda --epochs 2 --batch-size 8 \
     --set 'data.args={"train_per_class": 8, "test_per_class": 2}' --output-dir "$work/runs" --name ddp --quiet \
   && python -m snnctl evaluate "$work/runs/ddp" --device cuda --json > "$work/eval.json"; then
  python -c "import json,sys; r=json.load(open(sys.argv[1])); print('ok    ddp train + evaluate: top-1', r.get('top1', r))" "$work/eval.json"
else
  echo "FAIL  ddp train + evaluate"; status=1
fi
exit $status
