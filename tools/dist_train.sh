#!/usr/bin/env bash
# Distributed training with torch.distributed.run, one process per GPU:
#   tools/dist_train.sh CONFIG GPUS [tools/train.py options]
# Several machines: run it on each with NNODES, NODE_RANK, MASTER_ADDR and PORT set
# (defaults 1, 0, 127.0.0.1, 29500).
# Without a GPU, GPUS processes train on CPU with the gloo backend
# (tools/train.py switches; see mmseg_csl/engine/cpu_distributed.py).
if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS [tools/train.py options]" >&2
    exit 1
fi
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

# A collective that waits past env_cfg.dist_cfg.timeout ends the run with NCCL
# too: PyTorch's watchdog stops the process.
export TORCH_NCCL_ASYNC_ERROR_HANDLING=${TORCH_NCCL_ASYNC_ERROR_HANDLING:-1}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
python -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
