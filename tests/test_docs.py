"""The README's map of the code names every tool a user can run."""

import importlib
import os
import re
import shlex
import subprocess
import sys

from tests.helpers import ROOT, tiny_clip_path


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


# ---- every command in the README and docs/*.md parses against its command line ------------

DOC_FILES = ["README.md", "DATASETS.md", *sorted(
    os.path.join("docs", n) for n in os.listdir(os.path.join(ROOT, "docs")) if n.endswith(".md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`((?:python3? )[^`]+|[\w./-]+\.py --[^`]*)`")
BAD_INPUTS_ON_PURPOSE = os.path.join("docs", "reliability.md")
SEPARATORS = {";", "&&", "||", "|", "&"}
SHELL_WORDS = {"do", "then", "time", "nice"}
PYTHON_MODULES = {"-m tools.toy_world": "tools.toy_world.cli", "-m tools.parity":
                  "tools.parity.__main__"}
VARIABLES = {"$DATA": "output/data", "$PWD": ROOT, "$UPSTREAM": "output/upstream"}


class Parsed(Exception):
    """Raised by parse_args once a command line parsed: nothing runs."""

    def __init__(self, namespace):
        super().__init__()
        self.namespace = namespace


def doc_commands():
    """(where, words) of every shell command in the docs' bash blocks and inline code."""
    for doc in DOC_FILES:
        with open(os.path.join(ROOT, doc), encoding="utf-8") as f:
            text = f.read()
        for block in FENCE.finditer(text):
            if block.group(1) not in ("bash", "sh", "shell"):
                continue
            first = text[: block.start()].count("\n") + 2
            for number, line in logical_lines(block.group(2), first):
                if not line.lstrip().startswith("["):  # the next line of a usage synopsis
                    yield from line_commands(f"{doc}:{number}", line)
        if doc == BAD_INPUTS_ON_PURPOSE:
            continue  # its inline commands are the bad inputs it documents
        for span in INLINE.finditer(text):
            line = span.group(1)
            line = line if line.startswith("python") else "python " + line
            if len(line.split()) > (3 if " -m " in line else 2):  # a command, not a name
                yield from line_commands(f"{doc}:{text[: span.start()].count(chr(10)) + 1}",
                                         line)


def logical_lines(body, first):
    """(line number, line) with backslash continuations joined."""
    pending, start = "", first
    for number, line in enumerate(body.split("\n"), first):
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        if (pending + line).strip():
            yield start, pending + line
        pending = ""


def line_commands(where, line):
    line = re.sub(r"\s\[[^\]]*\]", " ", line)  # a synopsis's optional parts
    line = re.sub(r"\$\(\(.*?\)\)", "0", line)  # shell arithmetic
    for inner in re.findall(r"\$\(([^()]*)\)", line):
        yield from line_commands(where, inner)
    line = re.sub(r"\$\([^()]*\)", "X", line)
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words = []
    for word in list(lexer) + [";"]:
        if word not in SEPARATORS:
            words.append(word)
            continue
        while words and (words[0] in SHELL_WORDS or re.fullmatch(r"\w+=.*", words[0])):
            words.pop(0)
        if words:
            yield where, [VARIABLES.get(w, w) for w in words]
        words = []


def parse_only(monkeypatch, module_name, argv):
    """The namespace the program's parser makes of ``argv``; a refusal fails the test."""
    import argparse

    def stop(self, args=None, namespace=None):
        raise Parsed(original(self, args, namespace))

    original = argparse.ArgumentParser.parse_args
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", stop)
    module = importlib.import_module(module_name)
    try:
        module.main(argv)
    except Parsed as parsed:
        return parsed.namespace
    except SystemExit as error:
        raise AssertionError(f"refused (exit {error.code})") from None
    raise AssertionError("main() returned without parsing its arguments")


def python_target(words):
    """(module, argv) of a ``python ...`` command of ours, or None for someone else's."""
    if words[1] == "-m":
        module = PYTHON_MODULES.get(f"-m {words[2]}")
        return (module, words[3:]) if module else None
    script = os.path.normpath(words[1]).replace(os.sep, "/").lstrip("./")
    name = script.split("/")[-1][: -len(".py")]
    if script.endswith(("train.py", "parse_test_res.py")) and "/" not in script.strip("/"):
        return name, words[2:]
    return (f"tools.{name}", words[2:]) if script.startswith("tools/") else (name, words[2:])


def check_python(monkeypatch, words):
    module, argv = python_target(words) or (None, None)
    if module is None:
        return False
    args = parse_only(monkeypatch, module, argv)
    if module == "train":  # the config too: the YAML files and every KEY of the opts
        import train

        train.setup_cfg(args)
    return True


def check_script(words, tmp_path):
    """A scripts/ command runs as a dry run (the train.py calls printed, nothing written)."""
    script = words[1]
    assert os.path.isfile(os.path.join(ROOT, script)), f"no such script {script}"
    if not script.startswith("scripts/") or script.endswith("slurm_array.sh"):
        return
    args = words[2:]
    if script.endswith("run_experiments.sh"):
        args = [*args[:2], "--dry-run", "--no-table", *args[2:]]
    env = dict(os.environ, DRY_RUN="1", DATA=str(tmp_path / "data"),
               OUTPUT=str(tmp_path / "out"), PYTHON=sys.executable)
    done = subprocess.run(["bash", script, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1:]


def test_every_command_in_the_docs_parses_against_its_command_line(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    checked, failures = 0, []
    for where, words in doc_commands():
        if any("$" in w for w in words) or len(words) < 2:
            continue  # a loop variable or a bare word: nothing to check
        try:
            if words[0] in ("python", "python3") and check_python(monkeypatch, words):
                checked += 1
            elif words[0] == "bash":
                check_script(words, tmp_path)
                checked += 1
        except (AssertionError, Exception) as error:  # noqa: B014 (name both: a refusal reads)
            failures.append(f"{where}: {' '.join(words)}: {error}")
        monkeypatch.undo()
        monkeypatch.chdir(ROOT)
    assert failures == [], "\n".join(failures)
    assert checked > 60  # the docs hold that many of our commands: the reader found them


def test_the_figure_command_leaves_the_tracked_figures_alone_by_default():
    with open(os.path.join(ROOT, "docs", "figures", "make_figures.sh"), encoding="utf-8") as f:
        default = re.search(r"^FIGURES=\$\{FIGURES:-(.*)\}$", f.read(), re.M).group(1)
    assert "docs/figures" not in default and default.startswith("$REPO/output/")


def test_the_figure_command_reads_the_image_size_alone_from_a_bare_checkpoint(tmp_path):
    """A bare OpenAI-layout file makes the loader say which activation it assumed; that line
    must not end up in INPUT.SIZE (it once did, and every run of the script failed)."""
    with open(os.path.join(ROOT, "docs", "figures", "make_figures.sh"), encoding="utf-8") as f:
        snippet = re.search(r"^size=\$\(\"\$\{PY\[@\]\}\" -c '(.*?)' \"\$CLIP\"", f.read(),
                            re.M | re.S).group(1)
    result = subprocess.run([sys.executable, "-c", snippet, tiny_clip_path(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    assert "Activation" in result.stderr  # the loader did speak, on the other stream
    assert re.fullmatch(r"\(\d+, \d+\)\n", result.stdout), result.stdout
