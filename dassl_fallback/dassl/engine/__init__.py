from dassl.engine.build import TRAINER_REGISTRY, build_trainer
from dassl.engine.trainer import SimpleTrainer, TrainerBase, TrainerX, TrainerXU

__all__ = [
    "TRAINER_REGISTRY",
    "build_trainer",
    "SimpleTrainer",
    "TrainerBase",
    "TrainerX",
    "TrainerXU",
]
