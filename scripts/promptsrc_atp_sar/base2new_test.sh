#!/usr/bin/env bash
# PromptSRC_ATP_SAR base-to-new, test on the new classes: DATASET SEED [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../_lib.sh" && sar_main PromptSRC_ATP_SAR base2new_test "$@"
