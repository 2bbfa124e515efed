"""A pretrained toy CLIP world: accuracy that means something on a CPU.

A random tiny CLIP proves that the pipeline runs, not that it is right. This package draws a
small visual world whose classes have compositional English names (colour x shape, "red
circle"), pretrains a tiny CLIP on it contrastively, in OpenAI's key layout, and writes
downstream datasets in CoOp's Caltech101 layout with base and new classes that share no
colour word, plus a novel-class bank from the world's other names.

    python -m tools.toy_world make --out output/toy_world          # shipped model, world seed 0
    python -m tools.toy_world make --out output/toy_world1 --seed 1 --pretrain   # a new world

Modules: ``world`` (names and the split), ``draw`` (images), ``pretrain`` (contrastive
training), ``checkpoint`` (compact file <-> OpenAI-layout state dict), ``layout`` (the data
root), ``cli``.
"""
