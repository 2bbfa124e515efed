"""Optional ``torch.compile`` of CLIP's two towers (``TRAINER.COMPILE``), off by default.

Why: with few classes and small batches a prompt-tuning step is launch-bound (the GPU waits on
Python and kernel launches, not on math); fusing kernels, or replaying the step as CUDA graphs
(``MODE reduce-overhead``), removes that overhead. Compilation changes no result beyond float
rounding: the same modules run the same operations.

Shapes must repeat for compiled code to be reused, so when compiling, the text context is
rounded up to a multiple of ``LENGTH_MULTIPLE`` tokens. That stays exact: the transformer is
causal and pools at EOS, so tokens after the longest EOS never reach a feature.
"""

import torch

COMPILE_MODES = ("", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
COMPILED_TOWERS = ("text_encoder", "image_encoder")
LENGTH_MULTIPLE = 8


def compile_settings(cfg):
    """``(mode, backend)`` from ``TRAINER.COMPILE``, or None when compilation is off.

    The node is read with ``get`` so a trainer of ours also runs under an upstream fork's
    ``extend_cfg``, which does not define it.
    """
    node = cfg.TRAINER.get("COMPILE")
    mode = (node.get("MODE", "") if node is not None else "") or ""
    if mode not in COMPILE_MODES:
        raise ValueError(
            f"TRAINER.COMPILE.MODE must be one of {list(COMPILE_MODES)} ('' = off), got {mode!r}"
        )
    if not mode:
        return None
    return mode, node.get("BACKEND", "inductor") or "inductor"


def compile_towers(model, mode, backend):
    """Compile ``model``'s text and image encoders in place (their parameters are untouched)."""
    for name in COMPILED_TOWERS:
        tower = getattr(model, name, None)
        if tower is None:
            continue
        if backend == "inductor":
            tower.compile(mode=mode, backend=backend)
        else:  # other backends take no inductor mode (tests use "aot_eager" on the CPU)
            tower.compile(backend=backend)
    model.text_encoder.length_multiple = LENGTH_MULTIPLE
    print(f"Compiled {', '.join(COMPILED_TOWERS)} (mode: {mode}, backend: {backend})")


def mark_step_begin(enabled):
    """Tell CUDA-graph replay that a new step starts, so last step's outputs may be reused."""
    if enabled:
        torch.compiler.cudagraph_mark_step_begin()
