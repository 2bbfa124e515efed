#!/usr/bin/env bash
# CoOp_ATP_SAR few-shot, all classes: DATASET SEED SHOTS [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../_lib.sh" && sar_main CoOp_ATP_SAR fewshot "$@"
