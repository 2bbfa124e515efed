#!/usr/bin/env bash
# MaPLe_ATP cross-dataset / DG, test the ImageNet model: DATASET SEED [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../_lib.sh" && sar_main MaPLe_ATP xd_test "$@"
