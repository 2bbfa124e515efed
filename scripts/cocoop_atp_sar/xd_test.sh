#!/usr/bin/env bash
# CoCoOp_ATP_SAR cross-dataset / DG, test the ImageNet model: DATASET SEED [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../_lib.sh" && sar_main CoCoOp_ATP_SAR xd_test "$@"
