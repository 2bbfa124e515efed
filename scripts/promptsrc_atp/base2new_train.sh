#!/usr/bin/env bash
# PromptSRC_ATP base-to-new, train on the base classes: DATASET SEED [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../_lib.sh" && sar_main PromptSRC_ATP base2new_train "$@"
