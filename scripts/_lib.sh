# shellcheck shell=bash
#
# The one implementation behind every experiment script.
#
# scripts/<trainer in lower case>/<step>.sh are three-line wrappers that source this file and call
# `sar_main <TRAINER> <step> "$@"`; scripts/run_experiments.sh and scripts/slurm_array.sh use the
# job list and job runner below. Per-trainer facts (config name, shots, fixed opts) live only in
# sar_facts; the epoch a test loads is read from the config YAML (or an OPTIM.MAX_EPOCH override
# in the extra opts), so no script needs a hand-edited LOADEP.
#
# Environment:
#   DATA         data root holding imagenet/, eurosat/, ... (default: <repo>/data)
#   OUTPUT       output root (default: <repo>/output)
#   PYTHON       python command (default: python3)
#   CONFIG_ROOT  folder with datasets/ and trainers/ YAML configs (default: <repo>/configs)
#   EXP_TAG      appended to the config folder name, <CFG>_<EXP_TAG>, to keep ablations apart
#   LOADEP       epoch a test step loads (default: OPTIM.MAX_EPOCH of the run)
#   DRY_RUN      if non-empty, print the train.py command instead of running it (DATA need
#                not exist then)
#   FEATURE_CACHE  folder of frozen test-set image features shared by every job of a sweep
#                (TEST.FEATURE_CACHE; off when empty; see README "Performance")
# Relative paths (DATA, OUTPUT, CONFIG_ROOT, a path in PYTHON, and file paths among the KEY
# VALUE opts such as MODEL.BACKBONE.NAME) are relative to the caller's folder, although train.py
# runs from the repository root.

SAR_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SAR_SCRIPTS="$SAR_REPO/scripts"
# KEY VALUE opts whose value may be a file: a relative one is made absolute (sar_user_paths).
SAR_PATH_KEYS=(MODEL.BACKBONE.NAME MODEL.INIT_WEIGHTS TRAINER.SAR.NOVEL_SOURCE DATASET.ROOT
    OUTPUT_DIR)

SAR_TRAINERS=(ZeroshotCLIP CoOp CoCoOp KgCoOp MaPLe PromptSRC CoOp_SAR CoCoOp_SAR KgCoOp_SAR MaPLe_SAR
    PromptSRC_SAR CoOp_ATP CoCoOp_ATP KgCoOp_ATP MaPLe_ATP PromptSRC_ATP CoOp_ATP_SAR CoCoOp_ATP_SAR
    KgCoOp_ATP_SAR MaPLe_ATP_SAR PromptSRC_ATP_SAR)
# The 11 base-to-new / few-shot datasets in the papers' order (config names).
SAR_DATASETS=(imagenet caltech101 oxford_pets stanford_cars oxford_flowers food101 fgvc_aircraft
    sun397 dtd eurosat ucf101)
# Cross-dataset targets (a model trained on ImageNet, tested on the other 10).
SAR_XD_TARGETS=("${SAR_DATASETS[@]:1}")
# Domain generalization targets (the same ImageNet model on its 4 variants).
SAR_DG_TARGETS=(imagenetv2 imagenet_sketch imagenet_a imagenet_r)
SAR_SEEDS=(1 2 3)
SAR_B2N_SHOTS=16      # base-to-new trains on 16 shots per base class
SAR_XD_SHOTS=16       # the ImageNet model of cross-dataset / domain generalization
SAR_FEWSHOT_SHOTS=4   # runner default for the few-shot protocol

sar_die() {
    echo "error: $*" >&2
    exit 2
}

sar_note() {
    echo "[${SAR_TRAINER:-sar}] $*" >&2
}

# sar_abs_path PATH: PATH made absolute against the caller's folder (empty stays empty).
sar_abs_path() {
    if [[ -z $1 || $1 == /* ]]; then
        printf '%s' "$1"
    else
        printf '%s' "$PWD/$1"
    fi
}

# The folder holding datasets/ and trainers/ YAML files, absolute.
sar_config_root() {
    sar_abs_path "${CONFIG_ROOT:-$SAR_REPO/configs}"
}

# sar_user_paths: in SAR_USER_OPTS, the value of a path key (SAR_PATH_KEYS) that names a file
# of the caller's folder, or looks like a checkpoint or a list file, becomes absolute, so that
# `cd scratch; ... MODEL.BACKBONE.NAME my.pt` finds scratch/my.pt. Names (ViT-B/16, llm,
# random:ViT-B/16) stay as they are.
sar_user_paths() {
    local i key value
    [[ $PWD == "$SAR_REPO" ]] && return 0 # train.py runs here: relative paths already fit
    for ((i = 0; i + 1 < ${#SAR_USER_OPTS[@]}; i += 2)); do
        key=${SAR_USER_OPTS[i]} value=${SAR_USER_OPTS[i + 1]}
        [[ " ${SAR_PATH_KEYS[*]} " == *" $key "* ]] || continue
        [[ -n $value && $value != /* && $value != "~"* && $value != *:* ]] || continue
        [[ $value == llm || $value == random ]] && continue
        if [[ -e $value || $value =~ \.(pt|pth|bin|tar|safetensors|json|txt)$ ]]; then
            SAR_USER_OPTS[i + 1]="$PWD/$value"
        fi
    done
}

# sar_facts TRAINER PROTOCOL DATASET
# Sets SAR_CFG (config file name), SAR_TRAINED (0 = zero-shot: evaluation only) and
# SAR_TRAINER_OPTS (opts every run of the trainer gets before the user's; they follow the
# upstream scripts). PROTOCOL is base2new, xd (also for dg: it shares the ImageNet model) or
# fewshot; DATASET is the training dataset.
sar_facts() {
    local trainer=$1 protocol=$2 dataset=$3
    SAR_TRAINED=1
    SAR_TRAINER_OPTS=()
    # ATPrompt: learned tokens per attribute block, N_CTX as in upstream's scripts
    local atp_n=4
    case $trainer in
        ZeroshotCLIP)
            SAR_CFG=vit_b16
            SAR_TRAINED=0
            ;;
        CoOp | CoOp_SAR)
            if [[ $dataset == imagenet ]]; then
                SAR_CFG=vit_b16_ep50_ctxv1
            else
                SAR_CFG=vit_b16_ctxv1
            fi
            SAR_TRAINER_OPTS=(TRAINER.COOP.N_CTX 4 TRAINER.COOP.CSC False
                TRAINER.COOP.CLASS_TOKEN_POSITION end)
            ;;
        CoCoOp | CoCoOp_SAR)
            SAR_CFG=vit_b16_c4_ep10_batch1_ctxv1
            ;;
        # ATPrompt's per-dataset N_CTX and epochs: zhengli97/ATPrompt docs/ATPrompt.md, "Detailed
        # Hyperparameters for Reproducing" (few-shot has none there: base-to-new's are used).
        CoOp_ATP | CoOp_ATP_SAR)
            atp_n=2
            if [[ $protocol == xd ]]; then
                SAR_CFG=vit_b16_ep10 atp_n=4
            elif [[ $dataset == imagenet ]]; then
                SAR_CFG=vit_b16_ep10
            else
                SAR_CFG=vit_b16_ep100
                [[ $dataset == dtd ]] && atp_n=4
            fi
            SAR_TRAINER_OPTS=(TRAINER.COOP.N_CTX "$atp_n" TRAINER.COOP.CSC False
                TRAINER.COOP.CLASS_TOKEN_POSITION end)
            ;;
        CoCoOp_ATP | CoCoOp_ATP_SAR)
            SAR_CFG=vit_b16_c4_ep10_batch1_ctxv1 atp_n=2
            case $dataset in
                ucf101) atp_n=4 ;;
                stanford_cars | oxford_flowers | eurosat) atp_n=6 ;;
            esac
            [[ $protocol == xd ]] && SAR_CFG=vit_b16_c4_ep5_batch1_ctxv1 atp_n=4
            SAR_TRAINER_OPTS=(TRAINER.COCOOP.N_CTX "$atp_n")
            ;;
        MaPLe_ATP | MaPLe_ATP_SAR)
            SAR_CFG=vit_b16_c2_ep5_batch4_2ctx
            case $dataset in
                caltech101 | oxford_pets | oxford_flowers | eurosat) SAR_CFG=vit_b16_c2_ep10_batch4_2ctx ;;
                fgvc_aircraft | ucf101) atp_n=2 ;;
            esac
            [[ $protocol == xd ]] && SAR_CFG=vit_b16_c2_ep5_batch4_2ctx_cross_datasets atp_n=4
            SAR_TRAINER_OPTS=(TRAINER.MAPLE.N_CTX "$atp_n")
            ;;
        KgCoOp | KgCoOp_SAR | KgCoOp_ATP | KgCoOp_ATP_SAR)
            SAR_CFG=vit_b16_ep100_ctxv1
            SAR_TRAINER_OPTS=(TRAINER.COOP.N_CTX 4 TRAINER.COOP.CSC False
                TRAINER.COOP.CLASS_TOKEN_POSITION end TRAINER.COOP.W 8.0)
            ;;
        MaPLe | MaPLe_SAR)
            if [[ $protocol == xd ]]; then
                SAR_CFG=vit_b16_c2_ep5_batch4_2ctx_cross_datasets
            else
                SAR_CFG=vit_b16_c2_ep5_batch4_2ctx
            fi
            ;;
        PromptSRC | PromptSRC_SAR | PromptSRC_ATP | PromptSRC_ATP_SAR)
            case $protocol in
                xd) SAR_CFG=vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets ;;
                fewshot)
                    SAR_CFG=vit_b16_c2_ep50_batch4_4+4ctx_few_shot
                    # the paper's few-shot GPA for these five; the YAML holds the other six's
                    case $dataset in
                        stanford_cars | oxford_flowers | fgvc_aircraft | dtd | eurosat)
                            SAR_TRAINER_OPTS=(TRAINER.PROMPTSRC.GPA_MEAN 45
                                TRAINER.PROMPTSRC.GPA_STD 5)
                            ;;
                    esac
                    ;;
                *) SAR_CFG=vit_b16_c2_ep20_batch4_4+4ctx ;;
            esac
            ;;
        *)
            sar_die "unknown trainer '$trainer' (known: ${SAR_TRAINERS[*]})"
            ;;
    esac
    if [[ $trainer == *_ATP || $trainer == *_ATP_SAR ]]; then
        SAR_TRAINER_OPTS+=(TRAINER.ATPROMPT.N_ATT1 "$atp_n" TRAINER.ATPROMPT.N_ATT2 "$atp_n"
            TRAINER.ATPROMPT.N_ATT3 "$atp_n")
    fi
    SAR_CFG_DIR="$SAR_CFG${EXP_TAG:+_$EXP_TAG}"
    sar_config_file "$trainer" "$SAR_CFG"
}

# sar_config_file TRAINER CFG: sets SAR_CONFIG_FILE to configs/trainers/TRAINER/CFG.yaml. A SAR
# variant without a config folder of its own uses its baseline's (the SAR knobs keep their
# defaults); upstream keeps the zero-shot config with CoOp's.
sar_config_file() {
    local trainer=$1 cfg=$2 root
    root=$(sar_config_root)
    SAR_CONFIG_FILE="$root/trainers/$trainer/$cfg.yaml"
    local fallback=${trainer%_SAR}
    [[ $trainer == ZeroshotCLIP ]] && fallback=CoOp
    if [[ ! -f $SAR_CONFIG_FILE && -f $root/trainers/$fallback/$cfg.yaml ]]; then
        SAR_CONFIG_FILE="$root/trainers/$fallback/$cfg.yaml"
    fi
    if [[ ! -f $SAR_CONFIG_FILE ]]; then
        local known f
        known=$(for f in "$root/trainers/$trainer"/*.yaml; do
            [[ -f $f ]] && basename "$f" .yaml; done | tr '\n' ' ')
        known=${known% }
        sar_die "config file not found: $root/trainers/$trainer/$cfg.yaml" \
            "(known: ${known:-none})"
    fi
    return 0
}

# sar_dataset_file DATASET: sets SAR_DATASET_FILE.
sar_dataset_file() {
    local root
    root=$(sar_config_root)
    SAR_DATASET_FILE="$root/datasets/$1.yaml"
    if [[ ! -f $SAR_DATASET_FILE ]]; then
        local known f
        known=$(for f in "$root"/datasets/*.yaml; do [[ -f $f ]] && basename "$f" .yaml; done |
            tr '\n' ' ')
        known=${known% }
        sar_die "unknown dataset '$1': no $SAR_DATASET_FILE (known: ${known:-none})"
    fi
}

# Sets SAR_DATA to the absolute data root, or fails with a message saying what to set. A dry
# run only prints commands, so there a root that does not exist is printed as it is.
sar_data_root() {
    if [[ -n ${DATA:-} && -d $DATA ]]; then
        SAR_DATA=$(cd "$DATA" && pwd)
    elif [[ -z ${DATA:-} && -d $SAR_REPO/data ]]; then
        SAR_DATA="$SAR_REPO/data"
    elif [[ -n ${DRY_RUN:-} ]]; then
        SAR_DATA=$(sar_abs_path "${DATA:-$SAR_REPO/data}")
    elif [[ -n ${DATA:-} ]]; then
        sar_die "DATA=$DATA is not a directory; point DATA at the folder" \
            "that holds the datasets (imagenet/, eurosat/, ...; see docs/experiments.md)"
    else
        sar_die "DATA is not set and the default data root $SAR_REPO/data does not exist;" \
            "set DATA=/path/to/datasets (the folder holding imagenet/, eurosat/, ...;" \
            "see docs/experiments.md)"
    fi
}

# Sets SAR_OUT (absolute: the python step runs from the repository root) and SAR_PY.
sar_env() {
    SAR_OUT=$(sar_abs_path "${OUTPUT:-$SAR_REPO/output}")
    read -r -a SAR_PY <<< "${PYTHON:-python3}"
    [[ ${#SAR_PY[@]} -gt 0 ]] || SAR_PY=(python3)
    local i # PYTHON=.venv/bin/python names the caller's .venv, not the repository's
    for i in "${!SAR_PY[@]}"; do
        if [[ ${SAR_PY[i]} == */* && -e ${SAR_PY[i]} ]]; then
            SAR_PY[i]=$(sar_abs_path "${SAR_PY[i]}")
        fi
    done
}

# sar_max_epoch FILE: prints OPTIM.MAX_EPOCH of a YAML config (nothing if it is not set there).
sar_max_epoch() {
    awk '
        /^[^[:space:]#]/ { in_optim = ($0 ~ /^OPTIM:[[:space:]]*(#.*)?$/); next }
        in_optim && /^[[:space:]]+MAX_EPOCH:/ {
            v = $0
            sub(/^[^:]*:[[:space:]]*/, "", v)
            sub(/[[:space:]]*(#.*)?$/, "", v)
            gsub(/["'\'']/, "", v)
            print v
            exit
        }' "$1"
}

# Sets SAR_LOADEP: $LOADEP, else the last OPTIM.MAX_EPOCH in the user's opts, else the config's.
sar_load_epoch() {
    local i source
    if [[ -n ${LOADEP:-} ]]; then
        SAR_LOADEP=$LOADEP
        source="LOADEP"
    else
        SAR_LOADEP=$(sar_max_epoch "$SAR_CONFIG_FILE")
        source="OPTIM.MAX_EPOCH in $SAR_CONFIG_FILE"
        for ((i = 0; i + 1 < ${#SAR_USER_OPTS[@]}; i += 2)); do
            if [[ ${SAR_USER_OPTS[i]} == OPTIM.MAX_EPOCH ]]; then
                SAR_LOADEP=${SAR_USER_OPTS[i + 1]}
                source="OPTIM.MAX_EPOCH in the extra opts"
            fi
        done
    fi
    [[ $SAR_LOADEP =~ ^[0-9]+$ && $SAR_LOADEP -gt 0 ]] ||
        sar_die "cannot tell which epoch to load ('$SAR_LOADEP' from $source); set LOADEP=<epoch>"
}

# sar_newest_log DIR: prints the newest log file of a run folder (log.txt, or the latest
# log.txt-<time> a re-run wrote), or nothing.
sar_newest_log() {
    local newest="" f
    [[ -f $1/log.txt ]] && newest="$1/log.txt"
    for f in "$1"/log.txt-*; do
        [[ -f $f ]] && newest=$f
    done
    printf '%s' "$newest"
}

# sar_is_done DIR TRAINED: true when the newest log holds a result: a "* accuracy:" line,
# after the end-of-training line for a training run (TRAINED=1).
sar_is_done() {
    local log
    log=$(sar_newest_log "$1")
    [[ -n $log ]] || return 1
    awk -v need_end="$2" '
        /Finish(ed)? training/ { ended = 1; found = 0; next }
        /\* accuracy:/ { if (ended || need_end == 0) found = 1 }
        END { exit !found }' "$log"
}

# sar_same_run DIR TRAIN_ARGS...: true when the finished run in DIR was asked for these train.py
# arguments (launch/run_record.py says what is compared); otherwise prints what differs.
sar_same_run() {
    local dir=$1
    shift
    (cd "$SAR_REPO" && "${SAR_PY[@]}" tools/check_run_options.py "$dir" -- "$@")
}

# sar_should_skip DIR TRAINED TRAIN_ARGS...: true (and says so) when DIR already holds a finished
# run of these train.py arguments. A finished run of other arguments is never passed off as this
# one: the script stops with one line saying what differs and how to rerun.
sar_should_skip() {
    local dir=$1 trained=$2 why
    shift 2
    if [[ -d $dir ]]; then
        if sar_is_done "$dir" "$trained"; then
            if why=$(sar_same_run "$dir" "$@"); then
                sar_note "results exist at $dir, skipping this job (delete the folder to run it" \
                    "again)"
                return 0
            fi
            sar_die "$dir holds a finished run with other options (${why:-unreadable log});" \
                "delete that folder to rerun it, or set EXP_TAG=<name> to run these options" \
                "into a folder of their own"
        fi
        sar_note "$dir exists but holds no finished run; running it again" \
            "(the new log goes beside the old one)"
    fi
    return 1
}

# sar_shots_in DEFAULT KEY VALUE...: the shots a run trains on, the last DATASET.NUM_SHOTS among
# the opts or DEFAULT; folders are named after it, as upstream's are.
sar_shots_in() {
    local shots=$1 i
    local -a opts=("${@:2}")
    for ((i = 0; i + 1 < ${#opts[@]}; i += 2)); do
        [[ ${opts[i]} == DATASET.NUM_SHOTS ]] && shots=${opts[i + 1]}
    done
    [[ $shots =~ ^[0-9]+$ && $shots -gt 0 ]] ||
        sar_die "DATASET.NUM_SHOTS must be a positive integer, got '$shots'"
    printf '%s' "$shots"
}

# sar_require_model MODEL_DIR HINT: the trained run a test step loads, at epoch SAR_LOADEP.
sar_require_model() {
    [[ -n ${DRY_RUN:-} ]] && return 0
    [[ -d $1 ]] || sar_die "no trained model at $1; run $2 first"
    local f have
    for f in "$1"/*/model.pth.tar-"$SAR_LOADEP"; do
        [[ -f $f ]] && return 0
    done
    have=$(cd "$1" && for f in */model.pth.tar-*; do [[ -f $f ]] && echo "$f"; done | tr '\n' ' ')
    have=${have% }
    sar_die "no checkpoint for epoch $SAR_LOADEP under $1 (found: ${have:-none}); test with" \
        "the OPTIM.MAX_EPOCH you trained with, or set LOADEP=<epoch>"
}

# sar_train_py ARGS...: runs `python train.py ARGS` from the repository root.
sar_train_py() {
    local -a cmd=("${SAR_PY[@]}" train.py "$@")
    if [[ -n ${FEATURE_CACHE:-} ]]; then
        local cache=$FEATURE_CACHE
        [[ $cache == /* ]] || cache="$PWD/$cache"
        cmd+=(TEST.FEATURE_CACHE "$cache")
    fi
    if [[ -n ${DRY_RUN:-} ]]; then
        printf '%q ' "${cmd[@]}"
        printf '\n'
        return 0
    fi
    sar_note "running: $(printf '%q ' "${cmd[@]}")"
    (cd "$SAR_REPO" && "${cmd[@]}")
}

# Common train.py flags: sar_common_args SEED DATASET OUTPUT_DIR -> SAR_ARGS.
sar_common_args() {
    sar_dataset_file "$2"
    SAR_ARGS=(--root "$SAR_DATA" --seed "$1" --trainer "$SAR_TRAINER"
        --dataset-config-file "$SAR_DATASET_FILE" --config-file "$SAR_CONFIG_FILE"
        --output-dir "$3")
}

sar_step_base2new_train() { # DATASET SEED
    sar_facts "$SAR_TRAINER" base2new "$1"
    local shots
    shots=$(sar_shots_in "$SAR_B2N_SHOTS" "${SAR_USER_OPTS[@]}")
    local dir="$SAR_OUT/base2new/train_base/$1/shots_$shots/$SAR_TRAINER/$SAR_CFG_DIR/seed$2"
    sar_common_args "$2" "$1" "$dir"
    if ((SAR_TRAINED)); then
        SAR_ARGS+=("${SAR_TRAINER_OPTS[@]}" DATASET.NUM_SHOTS "$SAR_B2N_SHOTS")
    else
        # Zero-shot CLIP has nothing to train: this step evaluates it on the base classes.
        SAR_ARGS+=(--eval-only "${SAR_TRAINER_OPTS[@]}")
    fi
    SAR_ARGS+=(DATASET.SUBSAMPLE_CLASSES base "${SAR_USER_OPTS[@]}")
    sar_should_skip "$dir" "$SAR_TRAINED" "${SAR_ARGS[@]}" && return 0
    sar_train_py "${SAR_ARGS[@]}"
}

sar_step_base2new_test() { # DATASET SEED
    sar_facts "$SAR_TRAINER" base2new "$1"
    local shots
    shots=$(sar_shots_in "$SAR_B2N_SHOTS" "${SAR_USER_OPTS[@]}")
    local tail="$1/shots_$shots/$SAR_TRAINER/$SAR_CFG_DIR/seed$2"
    local dir="$SAR_OUT/base2new/test_new/$tail" model="$SAR_OUT/base2new/train_base/$tail"
    sar_common_args "$2" "$1" "$dir"
    if ((SAR_TRAINED)); then
        sar_load_epoch
        SAR_ARGS+=(--eval-only --model-dir "$model" --load-epoch "$SAR_LOADEP"
            "${SAR_TRAINER_OPTS[@]}" DATASET.NUM_SHOTS "$SAR_B2N_SHOTS")
    else
        SAR_ARGS+=(--eval-only "${SAR_TRAINER_OPTS[@]}")
    fi
    SAR_ARGS+=(DATASET.SUBSAMPLE_CLASSES new "${SAR_USER_OPTS[@]}")
    sar_should_skip "$dir" 0 "${SAR_ARGS[@]}" && return 0
    if ((SAR_TRAINED)); then
        sar_require_model "$model" "scripts/$SAR_METHOD_DIR/base2new_train.sh $1 $2"
    fi
    sar_train_py "${SAR_ARGS[@]}"
}

sar_step_xd_train() { # SEED
    sar_facts "$SAR_TRAINER" xd imagenet
    local shots
    shots=$(sar_shots_in "$SAR_XD_SHOTS" "${SAR_USER_OPTS[@]}")
    local dir="$SAR_OUT/imagenet/$SAR_TRAINER/${SAR_CFG_DIR}_${shots}shots/seed$1"
    sar_common_args "$1" imagenet "$dir"
    if ((SAR_TRAINED)); then
        SAR_ARGS+=("${SAR_TRAINER_OPTS[@]}" DATASET.NUM_SHOTS "$SAR_XD_SHOTS")
    else
        SAR_ARGS+=(--eval-only "${SAR_TRAINER_OPTS[@]}")
    fi
    SAR_ARGS+=("${SAR_USER_OPTS[@]}")
    sar_should_skip "$dir" "$SAR_TRAINED" "${SAR_ARGS[@]}" && return 0
    sar_train_py "${SAR_ARGS[@]}"
}

sar_step_xd_test() { # DATASET SEED
    sar_facts "$SAR_TRAINER" xd imagenet
    local shots
    shots=$(sar_shots_in "$SAR_XD_SHOTS" "${SAR_USER_OPTS[@]}")
    local exp="$SAR_TRAINER/${SAR_CFG_DIR}_${shots}shots"
    local dir="$SAR_OUT/evaluation/$exp/$1/seed$2" model="$SAR_OUT/imagenet/$exp/seed$2"
    sar_common_args "$2" "$1" "$dir"
    if ((SAR_TRAINED)); then
        sar_load_epoch
        SAR_ARGS+=(--eval-only --model-dir "$model" --load-epoch "$SAR_LOADEP")
    else
        SAR_ARGS+=(--eval-only)
    fi
    SAR_ARGS+=("${SAR_TRAINER_OPTS[@]}" "${SAR_USER_OPTS[@]}")
    sar_should_skip "$dir" 0 "${SAR_ARGS[@]}" && return 0
    if ((SAR_TRAINED)); then
        sar_require_model "$model" "scripts/$SAR_METHOD_DIR/xd_train.sh $2"
    fi
    sar_train_py "${SAR_ARGS[@]}"
}

sar_step_fewshot() { # DATASET SEED SHOTS
    [[ $3 =~ ^[0-9]+$ && $3 -gt 0 ]] || sar_die "SHOTS must be a positive integer, got '$3'"
    sar_facts "$SAR_TRAINER" fewshot "$1"
    local shots
    shots=$(sar_shots_in "$3" "${SAR_USER_OPTS[@]}")
    local dir="$SAR_OUT/fewshot/$1/shots_$shots/$SAR_TRAINER/$SAR_CFG_DIR/seed$2"
    sar_common_args "$2" "$1" "$dir"
    if ((SAR_TRAINED)); then
        SAR_ARGS+=("${SAR_TRAINER_OPTS[@]}" DATASET.NUM_SHOTS "$3")
    else
        SAR_ARGS+=(--eval-only "${SAR_TRAINER_OPTS[@]}")
    fi
    SAR_ARGS+=("${SAR_USER_OPTS[@]}")
    sar_should_skip "$dir" "$SAR_TRAINED" "${SAR_ARGS[@]}" && return 0
    sar_train_py "${SAR_ARGS[@]}"
}

# sar_coop_settings CFG CTP NCTX SHOTS CSC: CoOp's few-shot settings, each one overridable by the
# user's KEY VALUE opts (the last value wins, as in train.py). Sets SAR_COOP_OPTS and
# SAR_COOP_EXP, upstream's <CFG>_<SHOTS>shots/nctx<N>_csc<C>_ctp<P> (EXP_TAG after CFG), named
# after the values that actually run, so two settings never share a folder.
sar_coop_settings() {
    local cfg=$1 ctp=$2 nctx=$3 shots=$4 csc=$5 i value
    for ((i = 0; i + 1 < ${#SAR_USER_OPTS[@]}; i += 2)); do
        value=${SAR_USER_OPTS[i + 1]}
        case ${SAR_USER_OPTS[i]} in
            TRAINER.COOP.CLASS_TOKEN_POSITION) ctp=$value ;;
            TRAINER.COOP.N_CTX) nctx=$value ;;
            TRAINER.COOP.CSC) csc=$value ;;
            DATASET.NUM_SHOTS) shots=$value ;;
        esac
    done
    [[ $ctp =~ ^(end|middle|front)$ ]] ||
        sar_die "class token position (CTP) must be end, middle or front, got '$ctp'"
    [[ $nctx =~ ^[0-9]+$ && $nctx -gt 0 ]] ||
        sar_die "NCTX (context tokens) must be a positive integer, got '$nctx'"
    [[ $shots =~ ^[0-9]+$ && $shots -gt 0 ]] ||
        sar_die "SHOTS must be a positive integer, got '$shots'"
    [[ $csc =~ ^(True|False)$ ]] || sar_die "CSC (class-specific context) must be True or" \
        "False, got '$csc'"
    SAR_COOP_OPTS=(TRAINER.COOP.N_CTX "$nctx" TRAINER.COOP.CSC "$csc"
        TRAINER.COOP.CLASS_TOKEN_POSITION "$ctp")
    SAR_COOP_SHOTS=$shots
    SAR_COOP_EXP="$cfg${EXP_TAG:+_$EXP_TAG}_${shots}shots/nctx${nctx}_csc${csc}_ctp${ctp}"
}

# sar_seed_list: the seeds of CoOp's protocol scripts, 1 2 3 as upstream's (SEEDS overrides).
sar_seed_list() {
    read -r -a SAR_SEED_LIST <<< "${SEEDS:-${SAR_SEEDS[*]}}"
    local s
    for s in "${SAR_SEED_LIST[@]}"; do
        [[ $s =~ ^[0-9]+$ ]] || sar_die "SEEDS must be non-negative integers, got '$s'"
    done
}

# CoOp's own few-shot protocol (upstream scripts/coop/main.sh): every seed trains on all classes
# and ends with its test, into output/<DATASET>/<TRAINER>/<SAR_COOP_EXP>/seed<S>.
sar_step_coop_main() { # DATASET CFG CTP NCTX SHOTS CSC
    local dataset=$1 seed dir
    sar_config_file "$SAR_TRAINER" "$2"
    sar_coop_settings "$2" "$3" "$4" "$5" "$6"
    sar_seed_list
    for seed in "${SAR_SEED_LIST[@]}"; do
        dir="$SAR_OUT/$dataset/$SAR_TRAINER/$SAR_COOP_EXP/seed$seed"
        sar_common_args "$seed" "$dataset" "$dir"
        SAR_ARGS+=("${SAR_COOP_OPTS[@]}" DATASET.NUM_SHOTS "$SAR_COOP_SHOTS"
            "${SAR_USER_OPTS[@]}")
        sar_should_skip "$dir" 1 "${SAR_ARGS[@]}" && continue
        sar_train_py "${SAR_ARGS[@]}"
    done
}

# CoOp's cross-dataset evaluation (upstream scripts/coop/eval.sh): the ImageNet model of
# <CFG>_16shots/nctx16_cscFalse_ctpend, each seed, tested on DATASET, into
# output/evaluation/<TRAINER>/<that folder>/<DATASET>/seed<S>.
sar_step_coop_eval() { # DATASET CFG
    local dataset=$1 seed dir model
    sar_config_file "$SAR_TRAINER" "$2"
    sar_coop_settings "$2" end 16 16 False
    sar_load_epoch
    sar_seed_list
    for seed in "${SAR_SEED_LIST[@]}"; do
        model="$SAR_OUT/imagenet/$SAR_TRAINER/$SAR_COOP_EXP/seed$seed"
        dir="$SAR_OUT/evaluation/$SAR_TRAINER/$SAR_COOP_EXP/$dataset/seed$seed"
        sar_common_args "$seed" "$dataset" "$dir"
        SAR_ARGS+=(--model-dir "$model" --load-epoch "$SAR_LOADEP" --eval-only
            "${SAR_COOP_OPTS[@]}" "${SAR_USER_OPTS[@]}")
        sar_should_skip "$dir" 0 "${SAR_ARGS[@]}" && continue
        sar_require_model "$model" \
            "scripts/$SAR_METHOD_DIR/main.sh imagenet $2 end 16 $SAR_COOP_SHOTS False"
        sar_train_py "${SAR_ARGS[@]}"
    done
}

# sar_resolve_method NAME: NAME is a trainer name in any case (coop_sar, CoOp_SAR); sets
# SAR_TRAINER and SAR_METHOD_DIR (its scripts/ folder).
sar_resolve_method() {
    local t
    for t in "${SAR_TRAINERS[@]}"; do
        if [[ ${t,,} == "${1,,}" ]]; then
            SAR_TRAINER=$t
            SAR_METHOD_DIR=${t,,}
            return 0
        fi
    done
    sar_die "unknown method '$1' (known: ${SAR_TRAINERS[*],,})"
}

# sar_main TRAINER STEP ARGS...: entry point of the per-trainer wrapper scripts.
sar_main() {
    set -euo pipefail
    sar_resolve_method "$1"
    local step=$2 npos usage seed_at=1
    shift 2
    case $step in
        base2new_train | base2new_test | xd_test) npos=2 usage="DATASET SEED" ;;
        xd_train) npos=1 usage="SEED" seed_at=0 ;;
        fewshot) npos=3 usage="DATASET SEED SHOTS" ;;
        coop_main) npos=6 usage="DATASET CFG CTP NCTX SHOTS CSC" seed_at="" ;;
        coop_eval) npos=2 usage="DATASET CFG" seed_at="" ;;
        *) sar_die "unknown step '$step'" ;;
    esac
    if [[ $# -lt $npos || ${1:-} == -h || ${1:-} == --help ]]; then
        echo "usage: $0 $usage [KEY VALUE ...]" >&2
        echo "  KEY VALUE pairs are appended to train.py's opts (merged last)." >&2
        [[ -n $seed_at ]] || echo "  Runs seeds 1 2 3 (SEEDS=\"1 2\" picks others)." >&2
        exit 2
    fi
    local -a pos=("${@:1:npos}")
    SAR_USER_OPTS=("${@:npos+1}")
    if [[ -n $seed_at ]]; then
        [[ ${pos[seed_at]} =~ ^[0-9]+$ ]] ||
            sar_die "SEED must be a non-negative integer, got '${pos[seed_at]}'"
    fi
    ((${#SAR_USER_OPTS[@]} % 2 == 0)) ||
        sar_die "extra arguments must be KEY VALUE pairs, got: ${SAR_USER_OPTS[*]}"
    sar_user_paths
    sar_data_root
    sar_env
    "sar_step_$step" "${pos[@]}"
}

# sar_job_list PROTOCOL STAGE DATASETS SEEDS: prints the jobs, one "DATASET SEED" line each, that
# the runner runs in order and that a Slurm array task picks by its index. DATASETS and SEEDS are
# space- or comma-separated (empty: the protocol's defaults). For xd and dg, "imagenet SEED" is
# the training of the ImageNet model and every other line a test of it; STAGE (all, train or
# test) keeps only the training or the testing jobs, so that on a cluster the tests can wait for
# the trainings.
sar_job_list() {
    local protocol=$1 stage=${2:-all} datasets=${3:-} seeds=${4:-}
    local -a ds ss
    local d s
    read -r -a ss <<< "${seeds//,/ }"
    [[ ${#ss[@]} -gt 0 ]] || ss=("${SAR_SEEDS[@]}")
    for s in "${ss[@]}"; do
        [[ $s =~ ^[0-9]+$ ]] || sar_die "seeds must be non-negative integers, got '$s'"
    done
    read -r -a ds <<< "${datasets//,/ }"
    for d in "${ds[@]}"; do
        sar_dataset_file "$d" # a typo fails here, before a Slurm array is sized from the list
    done
    case $stage in
        all | train | test) ;;
        *) sar_die "unknown stage '$stage' (all, train or test)" ;;
    esac
    case $protocol in
        base2new | fewshot)
            if [[ $protocol == fewshot && $stage == test ]]; then
                sar_die "fewshot has a single step (training ends with the test): use stage all"
            fi
            [[ ${#ds[@]} -gt 0 ]] || ds=("${SAR_DATASETS[@]}")
            for d in "${ds[@]}"; do
                for s in "${ss[@]}"; do echo "$d $s"; done
            done
            ;;
        xd | dg)
            if [[ ${#ds[@]} -eq 0 ]]; then
                if [[ $protocol == xd ]]; then
                    ds=("${SAR_XD_TARGETS[@]}")
                else
                    ds=("${SAR_DG_TARGETS[@]}")
                fi
            fi
            if [[ $stage != test ]]; then
                for s in "${ss[@]}"; do echo "imagenet $s"; done
            fi
            if [[ $stage != train ]]; then
                for d in "${ds[@]}"; do
                    [[ $d == imagenet ]] && continue
                    for s in "${ss[@]}"; do echo "$d $s"; done
                done
            fi
            ;;
        *)
            sar_die "unknown protocol '$protocol' (base2new, xd, dg or fewshot)"
            ;;
    esac
}

# sar_run_job PROTOCOL STAGE SHOTS DATASET SEED [KEY VALUE ...]: runs one job of sar_job_list
# for the method set by sar_resolve_method, through its per-trainer scripts.
sar_run_job() {
    local protocol=$1 stage=$2 shots=${3:-$SAR_FEWSHOT_SHOTS} d=$4 s=$5
    shift 5
    local dir="$SAR_SCRIPTS/$SAR_METHOD_DIR"
    case $protocol in
        base2new)
            if [[ $stage != test ]]; then
                bash "$dir/base2new_train.sh" "$d" "$s" "$@" || return
            fi
            if [[ $stage != train ]]; then
                bash "$dir/base2new_test.sh" "$d" "$s" "$@" || return
            fi
            ;;
        xd | dg)
            if [[ $d == imagenet ]]; then
                bash "$dir/xd_train.sh" "$s" "$@"
            else
                bash "$dir/xd_test.sh" "$d" "$s" "$@"
            fi
            ;;
        fewshot)
            bash "$dir/fewshot.sh" "$d" "$s" "$shots" "$@"
            ;;
        *)
            sar_die "unknown protocol '$protocol' (base2new, xd, dg or fewshot)"
            ;;
    esac
}
