#!/usr/bin/env bash
# MaPLe_ATP_SAR few-shot, all classes: DATASET SEED SHOTS [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../_lib.sh" && sar_main MaPLe_ATP_SAR fewshot "$@"
