# shellcheck shell=bash
#
# A local job pool, for a machine with several GPUs and no Slurm: scripts/run_experiments.sh
# --gpus "0 1 2 3" [--per-gpu K].
#
# It runs the runner's jobs concurrently, K at a time on each GPU, each job pinned to its GPU
# through CUDA_VISIBLE_DEVICES and writing one log file of its own. A failed job does not stop
# the others: the caller gets the failed ones back and reports them. A job is a whole unit of
# the runner (a base-to-new job trains and then tests one dataset and seed), so what must come
# first within a job still does; the finished-run skip lives in the per-trainer scripts, so it
# holds here too.

# sar_pool_slots GPUS PER_GPU: sets SAR_POOL_SLOTS, one GPU id per job that may run at once,
# the GPUs taken in turn ("0 1" with 2 per GPU: 0 1 0 1), so that jobs spread over the GPUs.
sar_pool_slots() {
    local -a gpus
    local g k
    read -r -a gpus <<< "${1//,/ }"
    [[ ${#gpus[@]} -gt 0 ]] || sar_die "--gpus needs at least one GPU id, e.g. --gpus \"0 1\""
    for g in "${gpus[@]}"; do
        [[ $g =~ ^[A-Za-z0-9:_-]+$ ]] || sar_die "--gpus: '$g' is not a GPU id"
    done
    [[ $2 =~ ^[1-9][0-9]*$ ]] || sar_die "--per-gpu must be a positive integer, got '$2'"
    SAR_POOL_SLOTS=()
    for ((k = 0; k < $2; k++)); do
        SAR_POOL_SLOTS+=("${gpus[@]}")
    done
}

# sar_pool_run RUN DESCRIBE LOG INDEX...: runs `RUN INDEX` for every INDEX, in the background
# on a free slot of SAR_POOL_SLOTS with CUDA_VISIBLE_DEVICES set to its GPU, its stdout and
# stderr going to the file `LOG INDEX` prints; `DESCRIBE INDEX` names the job in the progress
# lines. Returns when every job has ended; SAR_POOL_FAILED holds the indices that failed.
sar_pool_run() {
    local run=$1 describe=$2 logname=$3
    shift 3
    local -a queue=("$@") held=()
    local next=0 k busy log gpu status
    SAR_POOL_FAILED=() SAR_POOL_PIDS=()
    trap sar_pool_stop INT TERM
    while :; do
        busy=0
        for k in "${!SAR_POOL_SLOTS[@]}"; do
            gpu=${SAR_POOL_SLOTS[k]}
            if [[ -n ${SAR_POOL_PIDS[k]:-} ]]; then
                if kill -0 "${SAR_POOL_PIDS[k]}" 2> /dev/null; then
                    busy=1
                    continue
                fi
                if wait "${SAR_POOL_PIDS[k]}"; then status=0; else status=$?; fi
                if ((status == 0)); then
                    echo "== [gpu $gpu] done: $("$describe" "${held[k]}")" >&2
                else
                    echo "== [gpu $gpu] FAILED (exit $status): $("$describe" "${held[k]}")" \
                        "(log: $("$logname" "${held[k]}"))" >&2
                    SAR_POOL_FAILED+=("${held[k]}")
                fi
                SAR_POOL_PIDS[k]=""
            fi
            ((next < ${#queue[@]})) || continue
            held[k]=${queue[next]}
            next=$((next + 1))
            log=$("$logname" "${held[k]}")
            mkdir -p "$(dirname "$log")"
            echo "== [gpu $gpu] start: $("$describe" "${held[k]}") (log: $log)" >&2
            set -m # the job gets a process group of its own, which sar_pool_stop can end
            (
                set +m
                export CUDA_VISIBLE_DEVICES=$gpu
                "$run" "${held[k]}"
            ) >> "$log" 2>&1 &
            SAR_POOL_PIDS[k]=$!
            set +m
            busy=1
        done
        ((busy)) || break
        sleep 0.2
    done
    trap - INT TERM
}

# sar_pool_stop: on Ctrl-C or SIGTERM, end the running jobs (their whole process groups: a job
# is bash, the trainer script and train.py) rather than leave them training unattended.
sar_pool_stop() {
    local pid
    trap - INT TERM
    for pid in "${SAR_POOL_PIDS[@]}"; do
        [[ -n $pid ]] && kill -TERM -- "-$pid" 2> /dev/null
    done
    wait
    echo "error: interrupted: the running jobs were stopped; run the same command again to" \
        "redo only what is not finished" >&2
    exit 130
}
