#!/usr/bin/env bash
# Slurm job-array template: one array task = one job (dataset x seed) of
#   scripts/run_experiments.sh METHOD PROTOCOL --list
# computed from the same list (sar_job_list in scripts/_lib.sh), so task I runs line I (0-based).
#
# Submit from the repository root; the array size comes from --count:
#   N=$(scripts/run_experiments.sh coop_sar base2new --count)
#   DATA=/path/to/datasets METHOD=coop_sar PROTOCOL=base2new \
#       sbatch --array=0-$((N - 1)) scripts/slurm_array.sh [KEY VALUE ...]
# xd / dg: submit the ImageNet trainings first and the tests after them:
#   jid=$(METHOD=maple_sar PROTOCOL=xd STAGE=train sbatch --parsable --array=0-2 scripts/slurm_array.sh)
#   N=$(scripts/run_experiments.sh maple_sar xd --stage test --count)
#   METHOD=maple_sar PROTOCOL=xd STAGE=test \
#       sbatch --dependency=afterok:"$jid" --array=0-$((N - 1)) scripts/slurm_array.sh
# Then print the table: python parse_test_res.py output/base2new --base2new
#
# Environment (sbatch passes the submitting shell's): METHOD, PROTOCOL (required); DATASETS,
# SEEDS, SHOTS, STAGE as for run_experiments.sh; DATA, OUTPUT, PYTHON, EXP_TAG as for the
# per-trainer scripts; REPO (default: the submit directory). DRY_RUN=1 means what it means for
# the scripts: the task prints its train.py commands (after its "== task" line on stderr, which
# names the job) instead of running them. Arguments after the script name are appended to
# train.py's opts.
#
# Adapt the resources below to your cluster (CoCoOp and ImageNet runs need the most time).
#SBATCH --job-name=sar-clip
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=64G
#SBATCH --time=24:00:00
#SBATCH --output=slurm-%x-%A_%a.out

set -euo pipefail

# Slurm runs a copy of this file from its spool folder: find the repository another way.
if [[ -z ${REPO:-} ]]; then
    for REPO in "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" "${SLURM_SUBMIT_DIR:-}"; do
        [[ -f $REPO/scripts/_lib.sh ]] && break
    done
fi
if [[ ! -f $REPO/scripts/_lib.sh ]]; then
    echo "error: cannot find the repository: submit from its root or set REPO=/path/to/repo" >&2
    exit 2
fi
# shellcheck source=scripts/_lib.sh
source "$REPO/scripts/_lib.sh"

# Load your environment here, e.g.:
# source "$REPO/.venv/bin/activate"

: "${METHOD:?set METHOD, e.g. METHOD=coop_sar}"
: "${PROTOCOL:?set PROTOCOL: base2new, xd, dg or fewshot}"
sar_resolve_method "$METHOD"
job_text=$(sar_job_list "$PROTOCOL" "${STAGE:-all}" "${DATASETS:-}" "${SEEDS:-}")
jobs=()
[[ -n $job_text ]] && mapfile -t jobs <<< "$job_text"

if [[ -z ${SLURM_ARRAY_TASK_ID:-} ]]; then
    echo "error: SLURM_ARRAY_TASK_ID is not set; submit with sbatch --array=0-$((${#jobs[@]} - 1))" >&2
    exit 2
fi
task=$SLURM_ARRAY_TASK_ID
if ! [[ $task =~ ^[0-9]+$ && $task -lt ${#jobs[@]} ]]; then
    echo "error: array task $task is out of range: the list has ${#jobs[@]} jobs" \
        "(use --array=0-$((${#jobs[@]} - 1)))" >&2
    exit 2
fi
read -r d s <<< "${jobs[task]}"
echo "== task $task of ${#jobs[@]}: $SAR_TRAINER $PROTOCOL $d seed $s on $(hostname)" >&2
sar_run_job "$PROTOCOL" "${STAGE:-all}" "${SHOTS:-$SAR_FEWSHOT_SHOTS}" "$d" "$s" "$@"
