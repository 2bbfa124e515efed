#!/usr/bin/env bash
# Runs one method through one protocol, dataset x seed, and ends with the parsed results.
# See docs/experiments.md.
usage() {
    cat << 'EOF'
usage: scripts/run_experiments.sh METHOD PROTOCOL [options] [--] [KEY VALUE ...]

  METHOD    zeroshotclip coop cocoop kgcoop maple promptsrc
            coop_sar cocoop_sar kgcoop_sar maple_sar promptsrc_sar
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

[[ $# -ge 1 && ($1 == -h || $1 == --help) ]] && usage 0
[[ $# -ge 2 ]] || usage
method=$1 protocol=$2
shift 2
datasets=${DATASETS:-} seeds=${SEEDS:-} shots=${SHOTS:-$SAR_FEWSHOT_SHOTS} stage=${STAGE:-all}
mode=run job_index="" table=1
opts=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --feature-cache)
            [[ $# -ge 2 ]] || sar_die "$1 needs a value"
            export FEATURE_CACHE=$2 && shift 2
            ;;
        --datasets | --seeds | --shots | --stage | --job)
            [[ $# -ge 2 ]] || sar_die "$1 needs a value"
            case $1 in
                --datasets) datasets=$2 ;;
                --seeds) seeds=$2 ;;
                --shots) shots=$2 ;;
                --stage) stage=$2 ;;
                --job) job_index=$2 ;;
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

sar_resolve_method "$method"
job_text=$(sar_job_list "$protocol" "$stage" "$datasets" "$seeds")
jobs=()
[[ -n $job_text ]] && mapfile -t jobs <<< "$job_text"

case $mode in
    list)
        [[ ${#jobs[@]} -eq 0 ]] || printf '%s\n' "${jobs[@]}"
        exit 0
        ;;
    count)
        echo "${#jobs[@]}"
        exit 0
        ;;
esac

indices=("${!jobs[@]}")
if [[ -n $job_index ]]; then
    [[ $job_index =~ ^[0-9]+$ && $job_index -lt ${#jobs[@]} ]] ||
        sar_die "--job $job_index is out of range: this list has ${#jobs[@]} jobs (0..$((${#jobs[@]} - 1)))"
    indices=("$job_index")
    table=0
fi

failed=()
for i in "${indices[@]}"; do
    read -r d s <<< "${jobs[i]}"
    echo "== $SAR_TRAINER $protocol job $((i + 1))/${#jobs[@]}: $d seed $s" >&2
    if ! sar_run_job "$protocol" "$stage" "$shots" "$d" "$s" "${opts[@]}"; then
        echo "== job failed: $d seed $s" >&2
        failed+=("$d $s")
    fi
done

if ((table)) && [[ -z ${DRY_RUN:-} ]]; then
    sar_env
    parse=("${SAR_PY[@]}" "$SAR_REPO/parse_test_res.py")
    read -r -a ss <<< "${seeds//,/ }"
    [[ ${#ss[@]} -gt 0 ]] || ss=("${SAR_SEEDS[@]}")
    echo >&2
    case $protocol in
        base2new)
            # One column for the method: its config(s) across the selected datasets.
            read -r -a ds <<< "${datasets//,/ }"
            [[ ${#ds[@]} -gt 0 ]] || ds=("${SAR_DATASETS[@]}")
            patterns=()
            for d in "${ds[@]}"; do
                sar_facts "$SAR_TRAINER" base2new "$d"
                [[ " ${patterns[*]} " == *" $SAR_TRAINER/$SAR_CFG_DIR "* ]] ||
                    patterns+=("$SAR_TRAINER/$SAR_CFG_DIR")
            done
            pattern_text=${patterns[*]}
            "${parse[@]}" "$SAR_OUT/base2new" --base2new \
                --methods "$SAR_TRAINER=${pattern_text// /+}" \
                --datasets "${ds[*]}" --seeds "${ss[*]}" \
                --format "${TABLE_FORMAT:-markdown}" || true
            ;;
        xd | dg)
            sar_facts "$SAR_TRAINER" xd imagenet
            exp="$SAR_TRAINER/${SAR_CFG_DIR}_${SAR_XD_SHOTS}shots"
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
            read -r -a ds <<< "${datasets//,/ }"
            [[ ${#ds[@]} -gt 0 ]] || ds=("${SAR_DATASETS[@]}")
            for d in "${ds[@]}"; do
                sar_facts "$SAR_TRAINER" fewshot "$d"
                log_flag=()
                ((SAR_TRAINED)) || log_flag=(--test-log)
                "${parse[@]}" "$SAR_OUT/fewshot/$d/shots_$shots/$SAR_TRAINER/$SAR_CFG_DIR" \
                    "${log_flag[@]}" || true
            done
            ;;
    esac
fi

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "error: ${#failed[@]} job(s) failed: ${failed[*]}" >&2
    exit 1
fi
