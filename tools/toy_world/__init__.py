"""A pretrained toy CLIP world: accuracy that means something on a CPU.

A random tiny CLIP proves that the pipeline runs, not that it is right. This package draws a
small visual world whose classes have compositional English names (colour x shape, "red
circle"), pretrains a tiny CLIP on it contrastively, in OpenAI's key layout, and writes
downstream datasets in CoOp's Caltech101 layout with base and new classes that share no
colour word, plus a novel-class bank from the world's other names.

    python -m tools.toy_world make --out output/toy_faithful --kind faithful  # base up, new down
    python -m tools.toy_world make --out output/toy_world          # pipeline check, world 0
    python -m tools.toy_world make --out output/toy_world1 --seed 1 --pretrain-seed 1  # new model

Modules: ``world`` (names and the split), ``draw`` (images and their scenes), ``pretrain``
(contrastive training), ``checkpoint`` (compact file <-> OpenAI-layout state dict), ``layout``
(the data root), ``cli``.
"""
