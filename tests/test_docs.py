"""The README's map of the code names every tool a user can run."""

import os

from tests.helpers import ROOT


def test_readme_map_names_every_tool():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    code_map = readme.split("## Map of the code", 1)[1].split("\n## ", 1)[0]
    tools = sorted(n for n in os.listdir(os.path.join(ROOT, "tools"))
                   if n.endswith(".py") and n != "__init__.py")
    missing = [t for t in tools if t[: -len(".py")] not in code_map]
    packages = ["launch/", "plotting/", "benchmarking/", "tools/toy_world/", "tools/parity/"]
    missing += [p for p in packages if p not in code_map]
    assert not missing, f"tools missing from the README's map: {missing}"
