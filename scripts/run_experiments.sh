#!/usr/bin/env bash
# Runs one method through one protocol, dataset x seed (x grid point), and ends with the parsed
# results. See docs/experiments.md.
usage() {
    cat << 'EOF'
usage: scripts/run_experiments.sh METHOD PROTOCOL [options] [--] [KEY VALUE ...]

  METHOD    zeroshotclip coop cocoop kgcoop maple promptsrc
            coop_sar cocoop_sar kgcoop_sar maple_sar promptsrc_sar
            coop_atp cocoop_atp kgcoop_atp maple_atp promptsrc_atp (ATPrompt)
            coop_atp_sar cocoop_atp_sar kgcoop_atp_sar maple_atp_sar promptsrc_atp_sar
  PROTOCOL  base2new  train on base classes, test on new (default: 11 datasets)
            xd        train on ImageNet, test on 10 other datasets (cross-dataset)
            dg        train on ImageNet, test on its 4 variants (domain generalization)
            fewshot   train and test on all classes with SHOTS shots (default: 11 datasets)

options (each also read from the environment variable in brackets):
  --datasets "A B"  datasets (for xd/dg: the test targets)   [DATASETS]
  --seeds "1 2 3"   seeds (default: 1 2 3)                    [SEEDS]
  --shots N         shots per class for fewshot (default: 4)  [SHOTS]
  --stage S         all (default), train or test: keep only the training or testing jobs [STAGE]
  --list            print the jobs, one "DATASET SEED" line each, and exit
  --count           print the number of jobs and exit
  --job I           run only job I (0-based) of the list, as a Slurm array task does
  --grid KEY=V1,V2  run every job once per value of the config key KEY (repeatable: every
                    combination), each point under its own EXP_TAG; base2new ends with one
                    table, a row per point
  --gpus "0 1"      run the jobs concurrently, each pinned to one of these GPUs through
                    CUDA_VISIBLE_DEVICES, one log per job under OUTPUT/logs/
  --per-gpu K       with --gpus: K jobs at a time on each GPU (default: 1)
  --dry-run         print the train.py commands instead of running them
  --feature-cache D share frozen test-set image features in folder D (TEST.FEATURE_CACHE) [FEATURE_CACHE]
  --no-table        do not print the parsed results at the end
KEY VALUE pairs are appended to every train.py call's opts. DATA, OUTPUT, PYTHON, EXP_TAG and
CONFIG_ROOT are read by the per-trainer scripts (see scripts/_lib.sh).
EOF
    exit "${1:-2}"
}

set -euo pipefail
# shellcheck source=scripts/_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"
# shellcheck source=scripts/_pool.sh
source "$(dirname "${BASH_SOURCE[0]}")/_pool.sh"

# parse_options ARGS...: the options into globals; what follows them goes to train.py's opts.
parse_options() {
    datasets=${DATASETS:-} seeds=${SEEDS:-} shots=${SHOTS:-$SAR_FEWSHOT_SHOTS} stage=${STAGE:-all}
    mode=run job_index="" table=1 gpu_ids="" per_gpu=1
    opts=() grid_specs=()
    while [[ $# -gt 0 ]]; do
        case $1 in
            --feature-cache)
                [[ $# -ge 2 ]] || sar_die "$1 needs a value"
                export FEATURE_CACHE=$2 && shift 2
                ;;
            --datasets | --seeds | --shots | --stage | --job | --grid | --gpus | --per-gpu)
                [[ $# -ge 2 ]] || sar_die "$1 needs a value"
                case $1 in
                    --datasets) datasets=$2 ;;
                    --seeds) seeds=$2 ;;
                    --shots) shots=$2 ;;
                    --stage) stage=$2 ;;
                    --job) job_index=$2 ;;
                    --grid) grid_specs+=("$2") ;;
                    --gpus) gpu_ids=$2 ;;
                    --per-gpu) per_gpu=$2 ;;
                esac
                shift 2
                ;;
            --list) mode=list && shift ;;
            --count) mode=count && shift ;;
            --dry-run) export DRY_RUN=1 && shift ;;
            --no-table) table=0 && shift ;;
            -h | --help) usage 0 ;;
            --)
                shift
                opts=("$@")
                break
                ;;
            --*) sar_die "unknown option '$1' (see --help)" ;;
            *)
                opts=("$@")
                break
                ;;
        esac
    done
}

# grid_points SPEC...: prints one line per point of the grid, its KEY=VALUE pairs separated by
# tabs, the first key varying slowest; no SPEC: one empty point (the plain run).
grid_points() {
    local -a points=("") next values
    local spec key p v
    local -A seen=()
    for spec in "$@"; do
        key=${spec%%=*}
        [[ $spec == *=* && $key =~ ^[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)+$ ]] ||
            sar_die "--grid '$spec': expected KEY=V1,V2,... with a config key, e.g." \
                "TRAINER.SAR.WEIGHT=0.5,1.0,2.0"
        [[ -z ${seen[$key]:-} ]] || sar_die "--grid: $key is given twice"
        seen[$key]=1
        IFS=, read -r -a values <<< "${spec#*=}"
        [[ ${#values[@]} -gt 0 ]] || sar_die "--grid '$spec' lists no value"
        # read drops one trailing empty field: "1.0,2.0," would pass as two points
        [[ $spec != *, ]] || sar_die "--grid '$spec' has an empty value"
        next=()
        for p in "${points[@]}"; do
            for v in "${values[@]}"; do
                [[ -n $v ]] || sar_die "--grid '$spec' has an empty value"
                next+=("${p:+$p$'\t'}$key=$v")
            done
        done
        points=("${next[@]}")
    done
    printf '%s\n' "${points[@]}"
}

# point_tag POINT: the EXP_TAG of a grid point, e.g. "weight0.5_num_novel50" for
# TRAINER.SAR.WEIGHT=0.5 TRAINER.SAR.NUM_NOVEL=50, after the user's EXP_TAG if one is set.
point_tag() {
    local -a pairs
    local pair name value tag=""
    IFS=$'\t' read -r -a pairs <<< "$1"
    for pair in "${pairs[@]}"; do
        name=${pair%%=*}
        name=${name##*.}
        value=${pair#*=}
        tag+="${tag:+_}${name,,}${value//[^A-Za-z0-9.-]/-}"
    done
    printf '%s' "${BASE_TAG:+$BASE_TAG${tag:+_}}$tag"
}

# point_opts POINT: sets POINT_OPTS to the point's KEY VALUE pairs for train.py's opts.
point_opts() {
    local -a pairs
    local pair
    POINT_OPTS=()
    IFS=$'\t' read -r -a pairs <<< "$1"
    for pair in "${pairs[@]}"; do
        POINT_OPTS+=("${pair%%=*}" "${pair#*=}")
    done
}

# run_work I: runs work item I (a job of the list at a grid point) through the trainer scripts.
run_work() {
    local point=${points[WORK_POINT[$1]]} d s
    read -r d s <<< "${jobs[WORK_JOB[$1]]}"
    point_opts "$point"
    # shellcheck disable=SC2030 # the point's EXP_TAG is meant for this job only
    (
        export EXP_TAG
        EXP_TAG=$(point_tag "$point")
        sar_run_job "$protocol" "$stage" "$shots" "$d" "$s" "${opts[@]}" "${POINT_OPTS[@]}"
    )
}

# describe_work I: "eurosat seed 1 [weight0.5] (job 3/8)", for progress lines.
describe_work() {
    local d s tag
    read -r d s <<< "${jobs[WORK_JOB[$1]]}"
    tag=$(point_tag "${points[WORK_POINT[$1]]}")
    printf '%s' "$d seed $s${tag:+ [$tag]} (job $(($1 + 1))/${#WORK_JOB[@]})"
}

# work_log I: the pool's log file of work item I.
work_log() {
    local d s tag
    read -r d s <<< "${jobs[WORK_JOB[$1]]}"
    tag=$(point_tag "${points[WORK_POINT[$1]]}")
    printf '%s' "$SAR_OUT/logs/$SAR_TRAINER/$protocol/${tag:+$tag/}${d}_seed$s.log"
}

# run_sequential I...: the work items one after the other, output to the terminal.
run_sequential() {
    local i
    trap stop_sequential INT
    for i in "$@"; do
        echo "== $SAR_TRAINER $protocol: $(describe_work "$i")" >&2
        if ! run_work "$i"; then
            echo "== job failed: $(describe_work "$i")" >&2
            failed+=("$(describe_work "$i")")
        fi
    done
}

# stop_sequential: Ctrl-C ends the whole run at once. train.py turns SIGINT into exit 130 rather
# than dying of it, so without this trap bash would take it for a failed job and go on.
stop_sequential() {
    trap - INT
    echo "error: interrupted by SIGINT; run the same command again to redo only what is not" \
        "finished (an interrupted training resumes from its last checkpoint)" >&2
    exit 130
}

# run_pool I...: the work items on the GPU pool. xd/dg tests load the ImageNet model of their
# seed: every training ends before the first test starts.
run_pool() {
    local -a first=() rest=() phase
    local i d s
    for i in "$@"; do
        read -r d s <<< "${jobs[WORK_JOB[i]]}"
        if [[ $protocol == xd || $protocol == dg ]] && [[ $d == imagenet ]]; then
            first+=("$i")
        else
            rest+=("$i")
        fi
    done
    for phase in first rest; do
        if [[ $phase == first ]]; then phase=("${first[@]}"); else phase=("${rest[@]}"); fi
        [[ ${#phase[@]} -gt 0 ]] || continue
        sar_pool_run run_work describe_work work_log "${phase[@]}"
        for i in "${SAR_POOL_FAILED[@]}"; do
            failed+=("$(describe_work "$i") (log: $(work_log "$i"))")
        done
    done
}

# method_patterns: sets METHOD_PATTERNS to the runner's TRAINER/CFG patterns for the table,
# joined by "+", under the current EXP_TAG ("?" stands for the "+" of config names such as
# vit_b16_c2_ep20_batch4_4+4ctx, which the parser would split).
method_patterns() {
    local -a patterns=()
    local d pattern
    for d in "${ds[@]}"; do
        sar_facts "$SAR_TRAINER" base2new "$d"
        pattern="$SAR_TRAINER/${SAR_CFG_DIR//+/?}"
        [[ " ${patterns[*]} " == *" $pattern "* ]] || patterns+=("$pattern")
    done
    METHOD_PATTERNS=${patterns[*]}
    METHOD_PATTERNS=${METHOD_PATTERNS// /+}
}

# base2new_table: one column per method (no grid), or one row per grid point.
base2new_table() {
    local -a methods=() flags=()
    local point
    if [[ ${#grid_specs[@]} -eq 0 ]]; then
        method_patterns
        methods=("$SAR_TRAINER=$METHOD_PATTERNS")
    else
        for point in "${points[@]}"; do
            EXP_TAG=$(point_tag "$point") method_patterns
            methods+=("${point//$'\t'/ }=$METHOD_PATTERNS")
        done
        flags=(--transpose)
    fi
    local IFS=,
    "${parse[@]}" "$SAR_OUT/base2new" --base2new --methods "${methods[*]}" \
        --datasets "${ds[*]// /,}" --seeds "${ss[*]}" --format "${TABLE_FORMAT:-markdown}" \
        --shots "$(sar_shots_in "$SAR_B2N_SHOTS" "${opts[@]}")" "${flags[@]}" || true
}

# point_results: the xd/dg or fewshot summaries under the current EXP_TAG.
point_results() {
    local exp targets d
    local -a log_flag
    case $protocol in
        xd | dg)
            sar_facts "$SAR_TRAINER" xd imagenet
            exp="$SAR_TRAINER/${SAR_CFG_DIR}_$(sar_shots_in "$SAR_XD_SHOTS" "${opts[@]}")"
            exp+=shots
            log_flag=()
            ((SAR_TRAINED)) || log_flag=(--test-log)
            if [[ $stage != test ]]; then
                echo "ImageNet (source):" >&2
                "${parse[@]}" "$SAR_OUT/imagenet/$exp" "${log_flag[@]}" || true
            fi
            if [[ $stage != train ]]; then
                targets=$(sar_job_list "$protocol" test "$datasets" "${ss[0]}" | cut -d' ' -f1)
                "${parse[@]}" "$SAR_OUT/evaluation/$exp" --multi-exp --test-log \
                    --datasets "${targets//$'\n'/ }" || true
            fi
            ;;
        fewshot)
            local ran_shots
            ran_shots=$(sar_shots_in "$shots" "${opts[@]}")
            for d in "${ds[@]}"; do
                sar_facts "$SAR_TRAINER" fewshot "$d"
                log_flag=()
                ((SAR_TRAINED)) || log_flag=(--test-log)
                "${parse[@]}" "$SAR_OUT/fewshot/$d/shots_$ran_shots/$SAR_TRAINER/$SAR_CFG_DIR" \
                    "${log_flag[@]}" || true
            done
            ;;
    esac
    return 0
}

# print_results: the parsed results of everything this run covered.
print_results() {
    local point
    parse=("${SAR_PY[@]}" "$SAR_REPO/parse_test_res.py")
    read -r -a ss <<< "${seeds//,/ }"
    [[ ${#ss[@]} -gt 0 ]] || ss=("${SAR_SEEDS[@]}")
    read -r -a ds <<< "${datasets//,/ }"
    [[ ${#ds[@]} -gt 0 ]] || ds=("${SAR_DATASETS[@]}")
    echo >&2
    if [[ $protocol == base2new ]]; then
        base2new_table
        return
    fi
    for point in "${points[@]}"; do
        [[ -z $point ]] || echo "== grid point: ${point//$'\t'/ }" >&2
        EXP_TAG=$(point_tag "$point") point_results
    done
    return 0
}

main() {
    [[ $# -ge 1 && ($1 == -h || $1 == --help) ]] && usage 0
    [[ $# -ge 2 ]] || usage
    method=$1 protocol=$2
    shift 2
    parse_options "$@"
    sar_resolve_method "$method"
    local job_text i j
    job_text=$(sar_job_list "$protocol" "$stage" "$datasets" "$seeds")
    jobs=()
    [[ -n $job_text ]] && mapfile -t jobs <<< "$job_text"
    case $mode in
        list | count)
            [[ ${#grid_specs[@]} -eq 0 ]] || sar_die "--grid runs here (add --gpus for a pool):" \
                "for Slurm, submit an array per point with its EXP_TAG and KEY VALUE opts"
            if [[ $mode == count ]]; then echo "${#jobs[@]}"; else printf '%s\n' "${jobs[@]}"; fi
            exit 0
            ;;
    esac
    # shellcheck disable=SC2031 # the user's EXP_TAG, which no job changes
    BASE_TAG=${EXP_TAG:-}
    local grid_text
    grid_text=$(grid_points "${grid_specs[@]}")
    mapfile -t points <<< "$grid_text"
    check_tags
    indices=("${!jobs[@]}")
    if [[ -n $job_index ]]; then
        [[ -z $gpu_ids && ${#grid_specs[@]} -eq 0 ]] ||
            sar_die "--job runs one job of the list: not with --gpus or --grid"
        [[ $job_index =~ ^[0-9]+$ && $job_index -lt ${#jobs[@]} ]] ||
            sar_die "--job $job_index is out of range: this list has ${#jobs[@]} jobs (0..$((${#jobs[@]} - 1)))"
        indices=("$job_index")
        table=0
    fi
    WORK_POINT=() WORK_JOB=()
    for i in "${!points[@]}"; do
        for j in "${indices[@]}"; do
            WORK_POINT+=("$i") WORK_JOB+=("$j")
        done
    done
    sar_env
    failed=()
    # every train.py below ends when this runner ends, even by kill -9 (launch/lifeline.py)
    export SAR_RUNNER_PID=$$
    if [[ -n $gpu_ids && -z ${DRY_RUN:-} ]]; then
        sar_pool_slots "$gpu_ids" "$per_gpu"
        run_pool "${!WORK_JOB[@]}"
    else
        run_sequential "${!WORK_JOB[@]}"
    fi
    ((table)) && [[ -z ${DRY_RUN:-} ]] && print_results
    if [[ ${#failed[@]} -gt 0 ]]; then
        echo "error: ${#failed[@]} job(s) failed:" >&2
        printf '  %s\n' "${failed[@]}" >&2
        exit 1
    fi
}

# check_tags: two grid points must not share a folder (values that differ only in characters
# a folder name cannot keep).
check_tags() {
    local -A seen=()
    local point tag
    for point in "${points[@]}"; do
        tag=$(point_tag "$point")
        [[ -z ${seen[x$tag]:-} ]] || sar_die "--grid: two points share the EXP_TAG '$tag'"
        seen[x$tag]=1
    done
}

main "$@"
