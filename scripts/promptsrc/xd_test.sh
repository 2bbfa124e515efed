#!/usr/bin/env bash
# PromptSRC cross-dataset / DG, test the ImageNet model: DATASET SEED [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../_lib.sh" && sar_main PromptSRC xd_test "$@"
