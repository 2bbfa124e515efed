"""The ATPrompt variants of the baselines (trainers/atprompt.py) and their SAR stacks: the
baseline's prompts, model name and checkpoints, with the attribute blocks before the context
(and ``loss_sar`` on top). Nothing else differs, so each variant is one line. CoOp_ATP,
CoCoOp_ATP and MaPLe_ATP carry upstream's names; KgCoOp_ATP and PromptSRC_ATP exist only here."""

from dassl.engine import TRAINER_REGISTRY
from trainers.atprompt import ATPromptMixin
from trainers.cocoop import CoCoOp
from trainers.coop import CoOp
from trainers.kgcoop import KgCoOp
from trainers.maple import MaPLe
from trainers.promptsrc import PromptSRC
from trainers.sar import SARMixin


@TRAINER_REGISTRY.register()
class CoOp_ATP(ATPromptMixin, CoOp):
    pass


@TRAINER_REGISTRY.register()
class CoCoOp_ATP(ATPromptMixin, CoCoOp):
    pass


@TRAINER_REGISTRY.register()
class KgCoOp_ATP(ATPromptMixin, KgCoOp):
    pass


@TRAINER_REGISTRY.register()
class MaPLe_ATP(ATPromptMixin, MaPLe):
    pass


@TRAINER_REGISTRY.register()
class PromptSRC_ATP(ATPromptMixin, PromptSRC):
    pass


@TRAINER_REGISTRY.register()
class CoOp_ATP_SAR(SARMixin, CoOp_ATP):
    pass


@TRAINER_REGISTRY.register()
class CoCoOp_ATP_SAR(SARMixin, CoCoOp_ATP):
    pass


@TRAINER_REGISTRY.register()
class KgCoOp_ATP_SAR(SARMixin, KgCoOp_ATP):
    pass


@TRAINER_REGISTRY.register()
class MaPLe_ATP_SAR(SARMixin, MaPLe_ATP):
    pass


@TRAINER_REGISTRY.register()
class PromptSRC_ATP_SAR(SARMixin, PromptSRC_ATP):
    pass
