"""A pickle module for ``torch.load`` that rebuilds tensors but never imports or runs other code.

Why: upstream Dassl saved the warm-up scheduler's ``successor`` as a pickled object, so its
checkpoints fail ``torch.load(weights_only=True)``. Loading them with plain pickle would run
whatever the file names. Passed as ``torch.load(..., weights_only=False, pickle_module=this)``,
this module's ``Unpickler.find_class`` resolves only

* torch's tensor/parameter rebuild functions, ``torch.Size``, ``torch.device`` and dtypes,
* ``collections.OrderedDict`` and the builtin containers/scalars,

and maps every other global to an inert placeholder class (a fresh subclass of
:class:`InertObject` per name). Calling a placeholder ignores its arguments; its
``__setstate__`` only stores the already-unpickled state (plain data or other placeholders)
in ``_pickled_state``. So the weights come back, and no foreign ``__reduce__``/``__setstate__``
or import side effect can happen.
"""

import builtins
import collections
import io
import pickle

import torch

__all__ = ["InertObject", "Unpickler", "load", "loads"]

_TORCH_UTILS_FUNCS = (
    "_rebuild_tensor",
    "_rebuild_tensor_v2",
    "_rebuild_tensor_v3",
    "_rebuild_parameter",
)
_BUILTIN_NAMES = (
    "dict",
    "list",
    "tuple",
    "set",
    "frozenset",
    "int",
    "float",
    "complex",
    "bool",
    "str",
    "bytes",
    "bytearray",
)


class InertObject:
    """Stand-in for a global the restricted unpickler refused to import."""

    _pickled_global = "?"

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        object.__setattr__(self, "_pickled_state", state)

    # Pickle may fill list/dict-like objects item by item; accept and drop.
    def append(self, item):
        pass

    def extend(self, items):
        pass

    def __setitem__(self, key, value):
        pass

    def __repr__(self):
        return f"<inert placeholder for {self._pickled_global}>"


_placeholders = {}


def _placeholder(module, name):
    key = (module, name)
    if key not in _placeholders:
        _placeholders[key] = type(
            "Inert_" + str(name).replace(".", "_"),
            (InertObject,),
            {"_pickled_global": f"{module}.{name}", "__module__": __name__},
        )
    return _placeholders[key]


def _allowed(module, name):
    if module == "collections" and name == "OrderedDict":
        return collections.OrderedDict
    if module in ("builtins", "__builtin__") and name in _BUILTIN_NAMES:
        return getattr(builtins, name)
    if module == "torch._utils" and name in _TORCH_UTILS_FUNCS:
        return getattr(torch._utils, name, None)
    if module == "torch":
        if name in ("Size", "device"):
            return getattr(torch, name)
        obj = getattr(torch, name, None)
        if isinstance(obj, torch.dtype):
            return obj
    return None


class Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        obj = _allowed(module, name)
        return obj if obj is not None else _placeholder(module, name)


def load(file, **kwargs):
    return Unpickler(file, **kwargs).load()


def loads(data, **kwargs):
    return Unpickler(io.BytesIO(data), **kwargs).load()
