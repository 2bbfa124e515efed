"""Reading the caches an upstream fork (CoOp, CoCoOp, KgCoOp, MaPLe, PromptSRC) left on a root.

Upstream pickles lists of Dassl ``Datum`` objects with the absolute image paths of the root it
ran on: ``<dataset>/split_fewshot/shot_<N>-seed_<S>.pkl`` holds ``{"train": [...], "val":
[...]}`` (ImageNet: ``{"train": [...]}``), the few-shot sample the fork trained on, and
``imagenet/preprocessed.pkl`` holds ``{"train": [...], "test": [...]}``, the folder listing it
drew that sample from. Reading them lets a run here train on the fork's very images.

They are never unpickled plainly. The engine's restricted unpickler turns every global the
file names into an inert placeholder (nothing is imported, called or run); here it maps
``dassl.data.datasets.base_dataset.Datum`` to :class:`PickledDatum`, a bare record without
methods, and only such records whose state is exactly the four plain attributes are accepted.
Anything else (a crafted ``__reduce__``, another format, a damaged file) refuses the whole file
with one line naming it.
"""

import functools
import importlib.util
import os

from .errors import SplitFormatError

DATUM_MODULE, DATUM_NAME = "dassl.data.datasets.base_dataset", "Datum"
DATUM_STATE = {"_impath": str, "_label": int, "_domain": int, "_classname": str}


class PickledDatum:
    """What a pickled Dassl Datum becomes: its state in ``__dict__`` and nothing else.

    No ``__new__``, ``__init__`` or ``__setstate__`` of its own, so unpickling one runs no
    Python code at all (and 1.3M of them load about twice as fast as placeholders).
    """


@functools.lru_cache(maxsize=1)
def restricted_unpickler():
    """The bundled engine's ``safe_pickle`` module, whichever Dassl is installed.

    Upstream Dassl has no restricted unpickler, so with it installed the bundled module is
    loaded from its file (it depends on nothing but torch and the standard library).
    """
    try:
        from dassl.utils import safe_pickle
    except ImportError:
        from dassl_fallback import FALLBACK_DIR

        path = os.path.join(FALLBACK_DIR, "dassl", "utils", "safe_pickle.py")
        spec = importlib.util.spec_from_file_location("sar_bundled_safe_pickle", path)
        safe_pickle = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(safe_pickle)
    return safe_pickle


@functools.lru_cache(maxsize=1)
def datum_unpickler():
    """The restricted unpickler, with Dassl's Datum mapped to :class:`PickledDatum`."""
    safe_pickle = restricted_unpickler()

    class DatumUnpickler(safe_pickle.Unpickler):
        def find_class(self, module, name):
            if module == DATUM_MODULE and name == DATUM_NAME:
                return PickledDatum
            return super().find_class(module, name)

    return DatumUnpickler


def read_datum_pickle(path, keys):
    """``{key: [(impath, label, classname), ...]}`` from a fork's pickle holding exactly ``keys``.

    Raises :class:`SplitFormatError` naming ``path`` for anything that is not a dict of plain
    Datum lists; by then nothing from the file has run.
    """
    def refuse(why):
        raise SplitFormatError(
            f"Refusing {path}: {why}; it is not an upstream pickle of plain Dassl datums, and "
            "nothing from it was run"
        )

    try:
        with open(path, "rb") as f:
            data = datum_unpickler()(f).load()
    except Exception as exc:  # a damaged or foreign file raises many unrelated types
        refuse(f"unreadable ({type(exc).__name__})")
    if not isinstance(data, dict) or sorted(data) != sorted(keys):
        refuse(f"expected a dict with the keys {sorted(keys)}")
    return {key: _datum_rows(data[key], key, refuse) for key in keys}


def _datum_rows(items, key, refuse):
    """Plain ``(impath, label, classname)`` rows of one pickled Datum list."""
    if not isinstance(items, list):
        refuse(f'"{key}" is not a list')
    attrs = DATUM_STATE.keys()
    rows = []
    for i, obj in enumerate(items):
        state = obj.__dict__ if type(obj) is PickledDatum else {}
        if state.keys() != attrs or any(type(state[a]) is not t for a, t in DATUM_STATE.items()):
            refuse(f'entry {i} of "{key}" is not a plain Datum')
        rows.append((state["_impath"], state["_label"], state["_classname"]))
    return rows


def path_markers(folder, image_folders):
    """The path pieces that end the image folder in a fork's absolute paths.

    Upstream joins ``<its root>/<folder>/<image folder>/<relative path>``, and the folder
    names are fixed by upstream's code, so the last such piece of a stored path marks where
    the relative path starts, whatever the fork's root was.
    """
    return [
        os.sep + os.path.join(folder, image_folder, "") if image_folder
        else os.sep + os.path.join(folder, "")
        for image_folder in image_folders
    ]


def remap_rows(rows, image_dir, markers):
    """Rows with their paths moved onto ``image_dir``, or ``(None, path)`` for the first path
    that holds no marker (it cannot belong to this dataset)."""
    out, prefix = [], None
    head = os.path.join(image_dir, "")
    for impath, label, classname in rows:
        if prefix is None or not impath.startswith(prefix):
            prefix = _prefix_of(impath, markers)
            if prefix is None:
                return None, impath
        out.append((head + impath[len(prefix):], label, classname))
    return out, None


def _prefix_of(impath, markers):
    """The stored path up to and including its last marker, or None."""
    best = -1, None
    for marker in markers:
        at = impath.rfind(marker)
        if at > best[0]:
            best = at, impath[: at + len(marker)]
    return best[1]
