#!/usr/bin/env bash
# The README's two figures, made by the repository's own tools from tiny base-to-new runs:
#   docs/figures/similarity.png  tools/similarity_report.py, CoOp vs CoOp_SAR (first dataset, seed 1)
#   docs/figures/results.png     parse_test_res.py --base2new --plot, every dataset and seed
# (plus similarity.md and results.md, the tables behind them).
#
#   bash docs/figures/make_figures.sh [CLIP_CHECKPOINT] [DATA_ROOT]
#
# CLIP_CHECKPOINT (or $CLIP): a CLIP checkpoint file; default: a tiny random CLIP written for
# the occasion (the pictures then show the pipeline, not real structure). DATA_ROOT (or $DATA):
# a data root holding the datasets below; default: a synthetic EuroSAT and DTD. The runs use the
# CPU unless USE_CUDA=True. Other settings, from the environment:
#   DATASETS ("eurosat dtd"), SEEDS ("1 2"), EPOCHS (10), SHOTS (4), BATCH (4),
#   EXTRA_OPTS (more train.py KEY VALUE pairs, e.g. "TRAINER.SAR.WEIGHT 5.0"),
#   WORK (scratch folder; default: a fresh temporary one, so no stale run is ever reused),
#   FIGURES (where the figures go; default: output/figures, so the tracked docs/figures/*
#   change only when asked: FIGURES=docs/figures), PYTHON (python3).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
read -r -a PY <<< "${PYTHON:-python3}"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1} MPLBACKEND=Agg
CLIP=${1:-${CLIP:-}}
DATA=${2:-${DATA:-}}
read -r -a datasets <<< "${DATASETS:-eurosat dtd}"
read -r -a seeds <<< "${SEEDS:-1 2}"
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/sar_figures.XXXXXX")}
FIGURES=${FIGURES:-$REPO/output/figures}
mkdir -p "$WORK" "$FIGURES"
LOG=$WORK/make_figures.log
echo "make_figures: scratch folder $WORK, every command's output in $LOG" >&2

# step CMD...: run quietly into the log; on failure, say which step and show the log's tail
step() {
    if ! "$@" >> "$LOG" 2>&1; then
        echo "error: make_figures: this step failed: $*" >&2
        tail -n 5 "$LOG" >&2
        exit 1
    fi
}

if [[ -z $CLIP ]]; then
    CLIP=$WORK/tiny_clip.pt
    step "${PY[@]}" tools/make_tiny_clip.py "$CLIP"
fi
[[ -f $CLIP ]] || { echo "error: CLIP checkpoint not found: $CLIP" >&2; exit 2; }
if [[ -z $DATA ]]; then
    DATA=$WORK/data
    step "${PY[@]}" tools/make_synthetic_data.py --root "$DATA" --datasets EuroSAT DescribableTextures
fi
[[ -d $DATA ]] || { echo "error: data root not found: $DATA" >&2; exit 2; }

# INPUT.SIZE must be the backbone's own: read it from the checkpoint (the loader's own lines,
# such as the activation it assumed, go to the log: stdout carries the size alone)
size=$("${PY[@]}" -c 'import contextlib, sys; from trainers.backbone import clip_image_size, load_clip
with contextlib.redirect_stdout(sys.stderr):
    model = load_clip(sys.argv[1])
print("(%d, %d)" % tuple(clip_image_size(model)))' "$CLIP" 2>> "$LOG")
opts=(MODEL.BACKBONE.NAME "$CLIP" INPUT.SIZE "$size" OPTIM.MAX_EPOCH "${EPOCHS:-10}"
    DATASET.NUM_SHOTS "${SHOTS:-4}" DATALOADER.TRAIN_X.BATCH_SIZE "${BATCH:-4}"
    DATALOADER.NUM_WORKERS 0 USE_CUDA "${USE_CUDA:-False}")
read -r -a extra <<< "${EXTRA_OPTS:-}"
opts+=("${extra[@]}")
export DATA OUTPUT=$WORK/output

for dataset in "${datasets[@]}"; do
    for seed in "${seeds[@]}"; do
        for method in coop coop_sar; do
            echo "make_figures: $method $dataset seed $seed" >&2
            step bash "scripts/$method/base2new_train.sh" "$dataset" "$seed" "${opts[@]}"
            step bash "scripts/$method/base2new_test.sh" "$dataset" "$seed" "${opts[@]}"
        done
    done
done

shots=${SHOTS:-4} # the folders are named after the shots that ran (EXTRA_OPTS may set them)
for ((i = 0; i + 1 < ${#opts[@]}; i += 2)); do
    [[ ${opts[i]} == DATASET.NUM_SHOTS ]] && shots=${opts[i + 1]}
done
runs=$OUTPUT/base2new/train_base/${datasets[0]}/shots_$shots
step "${PY[@]}" tools/similarity_report.py "$runs/CoOp/vit_b16_ctxv1/seed${seeds[0]}" \
    "$runs/CoOp_SAR/vit_b16_ctxv1/seed${seeds[0]}" -o "$WORK/similarity.png"
step "${PY[@]}" parse_test_res.py "$OUTPUT/base2new" --base2new --plot "$WORK/results.png"
"${PY[@]}" parse_test_res.py "$OUTPUT/base2new" --base2new > "$WORK/results.md"
# palette PNGs (256 colours): the same pictures at a third of the size, kinder to the repository
step "${PY[@]}" -c 'import sys; from PIL import Image
for path, target in zip(sys.argv[1::2], sys.argv[2::2]):
    Image.open(path).convert("RGB").quantize(colors=256).save(target, optimize=True)' \
    "$WORK/similarity.png" "$FIGURES/similarity.png" "$WORK/results.png" "$FIGURES/results.png"
cp "$WORK/similarity.md" "$WORK/results.md" "$FIGURES/"
echo "make_figures: wrote $FIGURES/similarity.png and $FIGURES/results.png (and their .md tables)" >&2
