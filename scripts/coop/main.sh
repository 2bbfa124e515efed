#!/usr/bin/env bash
# CoOp, CoOp's few-shot protocol, seeds 1 2 3: DATASET CFG CTP NCTX SHOTS CSC [KEY VALUE ...]
source "$(dirname "${BASH_SOURCE[0]}")/../_lib.sh" && sar_main CoOp coop_main "$@"
