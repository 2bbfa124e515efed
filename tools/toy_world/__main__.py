import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tools.toy_world.cli import main  # noqa: E402

sys.exit(main())
