#!/usr/bin/env bash
# PromptSRC_ATP cross-dataset / DG, train on ImageNet: SEED [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../_lib.sh" && sar_main PromptSRC_ATP xd_train "$@"
