#!/usr/bin/env bash
# KgCoOp_ATP_SAR cross-dataset / DG, train on ImageNet: SEED [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../_lib.sh" && sar_main KgCoOp_ATP_SAR xd_train "$@"
