#!/usr/bin/env bash
# Distributed testing with torch.distributed.run, one process per GPU:
#   tools/dist_test.sh CONFIG CHECKPOINT GPUS [tools/test.py options]
# Several machines: run it on each with NNODES, NODE_RANK, MASTER_ADDR and PORT set
# (defaults 1, 0, 127.0.0.1, 29500).
# Without a GPU, GPUS processes test on CPU with the gloo backend
# (tools/test.py switches; see mmseg_csl/engine/cpu_distributed.py).
if [ $# -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT GPUS [tools/test.py options]" >&2
    exit 1
fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
python -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
