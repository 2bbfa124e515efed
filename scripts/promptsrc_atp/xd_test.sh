#!/usr/bin/env bash
# PromptSRC_ATP cross-dataset / DG, test the ImageNet model: DATASET SEED [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../_lib.sh" && sar_main PromptSRC_ATP xd_test "$@"
