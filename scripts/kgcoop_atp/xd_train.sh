#!/usr/bin/env bash
# KgCoOp_ATP cross-dataset / DG, train on ImageNet: SEED [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../_lib.sh" && sar_main KgCoOp_ATP xd_train "$@"
