"""The SAR variants of the baselines: the baseline's prompts, model name and checkpoints, plus
``loss_sar`` (trainers/sar.py). Nothing else differs, so each variant is one line."""

from dassl.engine import TRAINER_REGISTRY
from trainers.cocoop import CoCoOp
from trainers.coop import CoOp
from trainers.kgcoop import KgCoOp
from trainers.maple import MaPLe
from trainers.promptsrc import PromptSRC
from trainers.sar import SARMixin


@TRAINER_REGISTRY.register()
class CoOp_SAR(SARMixin, CoOp):
    pass


@TRAINER_REGISTRY.register()
class CoCoOp_SAR(SARMixin, CoCoOp):
    pass


@TRAINER_REGISTRY.register()
class KgCoOp_SAR(SARMixin, KgCoOp):
    pass


@TRAINER_REGISTRY.register()
class MaPLe_SAR(SARMixin, MaPLe):
    pass


@TRAINER_REGISTRY.register()
class PromptSRC_SAR(SARMixin, PromptSRC):
    pass
