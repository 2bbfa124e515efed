#!/usr/bin/env bash
# CoOp_SAR, CoOp's cross-dataset eval of main.sh's ImageNet model: DATASET CFG [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../_lib.sh" && sar_main CoOp_SAR coop_eval "$@"
