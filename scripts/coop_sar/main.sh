#!/usr/bin/env bash
# CoOp_SAR, CoOp's few-shot protocol, seeds 1 2 3: DATASET CFG CTP NCTX SHOTS CSC [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../_lib.sh" && sar_main CoOp_SAR coop_main "$@"
