#!/usr/bin/env bash
# CoOp_ATP base-to-new, test on the new classes: DATASET SEED [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../_lib.sh" && sar_main CoOp_ATP base2new_test "$@"
