#!/usr/bin/env bash
# KgCoOp_ATP few-shot, all classes: DATASET SEED SHOTS [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../_lib.sh" && sar_main KgCoOp_ATP fewshot "$@"
