#!/usr/bin/env bash
# CoCoOp_ATP few-shot, all classes: DATASET SEED SHOTS [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../_lib.sh" && sar_main CoCoOp_ATP fewshot "$@"
