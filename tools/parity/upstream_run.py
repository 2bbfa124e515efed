"""Run an upstream fork's own ``train.py`` on a local CLIP checkpoint, for the parity audit.

The fork (CoOp, KgCoOp, MaPLe, PromptSRC, ATPrompt: a checkout the user fetched; none of it
lives in this repository) fetches its backbone by name through its bundled ``clip._download``,
which needs the network. Here that one function returns ``--weights`` instead, so the fork's own
loading code (TorchScript first, then a state dict through ``clip.build_model``) reads the toy
CLIP exactly as it would read OpenAI's file. Nothing else of the fork is touched.

Run as a script, never as ``-m`` from this repository: the forks' top-level ``datasets`` and
``trainers`` packages share their names with ours, so this repository must stay off
``sys.path``.

    python tools/parity/upstream_run.py --fork DIR --dassl DIR --weights toy_clip.pt -- \
        --root DATA --trainer CoOp --config-file ... [train.py's own arguments]
"""

import argparse
import importlib.machinery
import os
import runpy
import sys
import types
from pathlib import Path

OURS = Path(__file__).resolve().parents[2]


def keep_ours_off_path():
    """Drop this repository's root and this script's folder from sys.path (a venv kept
    inside the repository stays)."""
    here = Path(__file__).resolve().parent

    def ours(entry):
        try:
            return Path(entry or os.getcwd()).resolve() in (OURS, here)
        except OSError:
            return False
    sys.path[:] = [p for p in sys.path if not ours(p)]


# Imported at start-up by Dassl's WILDS datasets (which no audit uses): ``wilds`` by every
# fork's Dassl, ``pandas`` by ATPrompt's.
UNUSED_IMPORTS = ("wilds", "pandas")


def stub_unused_imports():
    """A stand-in for each of ``UNUSED_IMPORTS`` that is not installed: importing it works,
    and anything taken from it raises when called."""
    for name in UNUSED_IMPORTS:
        if name in sys.modules:
            continue
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = unavailable_module(name)


def unavailable_module(name):
    """Each public attribute is a class that nothing is an instance of and that raises when
    called: libraries that find the module imported probe ``isinstance(x, pandas.DataFrame)``
    (scikit-learn's metrics, through narwhals), and the answer must be False, not an error."""
    stub = types.ModuleType(name)
    stub.__spec__ = importlib.machinery.ModuleSpec(name, None)  # torch probes installed modules
    made = {}

    def attribute(attr):
        if attr.startswith("__"):
            raise AttributeError(attr)  # a module's own attributes (__file__, ...) it lacks
        if attr not in made:
            made[attr] = type(attr, (), {"__new__": unavailable_call(name, attr)})
        return made[attr]
    stub.__getattr__ = attribute
    return stub


def unavailable_call(name, attr):
    def unavailable(*args, **kwargs):
        raise RuntimeError(f"the parity runner stubs out {name}; install it for {attr}")
    return unavailable


def accept_scheduler_verbose():
    """Dassl (2022) passes ``verbose`` to torch's LR scheduler base class, which current torch
    dropped; accept it and ignore it, as torch did while it was deprecated."""
    import inspect

    from torch.optim import lr_scheduler

    base = lr_scheduler.LRScheduler
    if "verbose" in inspect.signature(base.__init__).parameters:
        return
    original = base.__init__

    def init(self, optimizer, last_epoch=-1, verbose=False):
        original(self, optimizer, last_epoch)
    base.__init__ = init


def load_dassl_checkpoints_safely():
    """Dassl's warmup scheduler pickles its successor scheduler (and with it the optimizer)
    into every checkpoint, which ``torch.load``'s default ``weights_only`` refuses since torch
    2.6. Where it refuses, read the file again with our restricted unpickler
    (``dassl_fallback/dassl/utils/safe_pickle.py``, loaded from its file so that our ``dassl``
    stays off the path): tensors and containers come back, any other object is an inert
    placeholder, and no code from the file runs. Evaluation needs only the state dict."""
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location(
        "parity_safe_pickle", OURS / "dassl_fallback" / "dassl" / "utils" / "safe_pickle.py")
    safe_pickle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(safe_pickle)
    weights_only_load = torch.load

    def load(f, map_location=None, pickle_module=None, **kwargs):
        try:
            return weights_only_load(f, map_location=map_location, weights_only=True)
        except Exception:
            return weights_only_load(f, map_location=map_location, pickle_module=safe_pickle,
                                     weights_only=False)
    torch.load = load


def keep_cuda_calls_on_cpu():
    """KgCoOp and PromptSRC call ``.cuda()`` outright; with no GPU those calls stay on the CPU,
    where Dassl (``USE_CUDA False`` or no device) already put everything else."""
    import torch

    if torch.cuda.is_available():
        return

    def stay(self, *args, **kwargs):
        return self
    torch.Tensor.cuda = stay
    torch.nn.Module.cuda = stay


def round_half_casts_on_cpu():
    """Without a GPU, fp16 values with fp32 arithmetic.

    The forks cast CLIP (and MaPLe/PromptSRC some prompts and layers) with ``.half()``
    whatever the precision asked; fp16 arithmetic on a CPU is many times slower, and MaPLe's
    fp16 layer fails against fp32 inputs. So ``Tensor.half()`` rounds to fp16's precision but
    stays fp32, and ``clip.build_model`` runs with the real cast (it casts the new model to
    fp16, then loads the weights, which rounds exactly the tensors upstream rounds, as our
    loader does) and hands back the model in fp32. So does each other builder in
    ``CLIP_BUILDERS`` the fork has. Returns whether it applied (never with CUDA)."""
    import torch

    if torch.cuda.is_available():
        return False
    to_half = torch.Tensor.half

    def half(self, memory_format=torch.preserve_format):
        return to_half(self, memory_format=memory_format).float()
    torch.Tensor.half = half
    for module in fork_modules(CLIP_BUILDERS):
        module.build_model = built_in_fp16_returned_in_fp32(module.build_model, to_half, half)
    return True


# The forks' CLIP builders: clip.build_model, and ATPrompt's second one for MaPLe_ATP
CLIP_BUILDERS = ("clip.clip", "clip.model_atp")


def fork_modules(names):
    """The modules of ``names`` that the fork has (a missing one is skipped; a module that
    is there but fails to import still raises)."""
    import importlib

    found = []
    for name in names:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
    return found


def built_in_fp16_returned_in_fp32(build, to_half, half):
    import torch

    def build_model(*args, **kwargs):
        torch.Tensor.half = to_half
        try:
            return build(*args, **kwargs).float()
        finally:
            torch.Tensor.half = half
    return build_model


def register_dataset_alias(spec):
    """``ALIAS=NAME``: the fork's dataset class registered as NAME is registered as ALIAS too.

    Upstream ATPrompt replaces the attribute words of every dataset in its table (Caltech101's
    are shape, size) and keeps the command line's words for any other dataset, as it would for
    one a user adds. Under ALIAS the fork's own Caltech101 class reads the same files, and its
    ``train.py`` keeps the words given, which is what the audit needs to run the toy world's
    true attributes."""
    alias, _, name = spec.partition("=")
    from dassl.data.datasets import DATASET_REGISTRY

    register = DATASET_REGISTRY._do_register

    def register_with_alias(registered, obj, force=False):
        register(registered, obj, force=force)
        if registered == name:
            register(alias, obj, force=force)
    DATASET_REGISTRY._do_register = register_with_alias


def point_clip_at(weights):
    """The fork's ``clip._download(url, root)`` returns the local checkpoint for any name."""
    from clip import clip as fork_clip

    def local_download(url, root=None):
        return str(weights)
    fork_clip._download = local_download


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fork", required=True, help="the fork's root (holds train.py, clip/)")
    parser.add_argument("--dassl", required=True, help="the Dassl checkout the fork runs with")
    parser.add_argument("--weights", required=True, help="CLIP checkpoint in OpenAI's layout")
    parser.add_argument("--dataset-alias", metavar="ALIAS=NAME",
                        help="register the fork's dataset NAME under ALIAS as well")
    parser.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then train.py's args")
    args = parser.parse_args(argv)
    if args.dataset_alias and not all(args.dataset_alias.partition("=")[::2]):
        parser.error(f"--dataset-alias: expected ALIAS=NAME, got {args.dataset_alias!r}")
    fork, dassl, weights = (Path(p).resolve() for p in (args.fork, args.dassl, args.weights))
    for path, what in ((fork / "train.py", "--fork"), (dassl / "dassl", "--dassl"),
                       (weights, "--weights")):
        if not path.exists():
            parser.error(f"{what}: {path} does not exist")
    train_args = args.train_args[1:] if args.train_args[:1] == ["--"] else args.train_args
    keep_ours_off_path()
    sys.path[:0] = [str(fork), str(dassl)]
    stub_unused_imports()
    accept_scheduler_verbose()
    keep_cuda_calls_on_cpu()
    round_half_casts_on_cpu()
    load_dassl_checkpoints_safely()
    point_clip_at(weights)
    if args.dataset_alias:
        register_dataset_alias(args.dataset_alias)
    os.chdir(fork)
    sys.argv = [str(fork / "train.py"), *train_args]
    runpy.run_path(str(fork / "train.py"), run_name="__main__")


if __name__ == "__main__":
    main()
