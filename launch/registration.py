"""Register every trainer and dataset with Dassl's registries, once, for any entry point.

Dassl finds a trainer or dataset by the name its module registered on import, so an entry point
must import them all before ``build_trainer``. train.py and the tools import this module for it
(never ``train`` itself). ``DASSL_ORIGIN`` says which engine answered ``import dassl``.
"""

from dassl_fallback import ensure_dassl

DASSL_ORIGIN = ensure_dassl()

import datasets  # noqa: E402,F401
import trainers.atprompt_trainers  # noqa: E402,F401
import trainers.cocoop  # noqa: E402,F401
import trainers.coop  # noqa: E402,F401
import trainers.kgcoop  # noqa: E402,F401
import trainers.maple  # noqa: E402,F401
import trainers.promptsrc  # noqa: E402,F401
import trainers.sar_trainers  # noqa: E402,F401
import trainers.zsclip  # noqa: E402,F401
