"""Read the tensors of a TorchScript archive (OpenAI's CLIP files) without running its code.

Why: ``torch.jit.load`` compiles the archive's ``code/`` folder and runs the scripted
``__setstate__`` of every object in it, so a crafted ``.pt`` passed as ``MODEL.BACKBONE.NAME``
could write files or worse before it is refused. The weights need none of that: ``data.pkl``
is a pickle of the module tree, each module's state a dict of attribute name to value, and each
tensor points at a raw record under ``data/``.

This reader unpickles ``data.pkl`` with an allow-list: torch's tensor rebuild functions, the
storage types, ``OrderedDict`` and the builtin containers; every TorchScript class
(``__torch__.*``) becomes an inert :class:`ScriptedObject` that only keeps its state. Any other
global is refused. The tensors are then collected by attribute path (``visual.conv1.weight``),
the keys ``Module.state_dict()`` gives. The engine's ``safe_pickle`` is not reused because
trainers also run on upstream Dassl, which has none.
"""

import builtins
import collections
import pickle
import sys
import zipfile

import torch
from torch.serialization import StorageType

_REBUILD_FUNCTIONS = ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter")
_BUILTINS = ("dict", "list", "tuple", "set", "frozenset", "int", "float", "bool", "str")


class ArchiveError(ValueError):
    """The archive is not one this reader can take apart; the message says why."""


class ScriptedObject:
    """Stand-in for a TorchScript object: no code of its class runs, its state is kept."""

    def __init__(self, *args, **kwargs):
        self.state = None

    def __setstate__(self, state):
        self.state = state


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, archive, prefix):
        super().__init__(file)
        self.archive, self.prefix = archive, prefix
        self.storages = {}  # key -> storage: tensors that share one stay views of it

    def find_class(self, module, name):
        if module == "__torch__" or module.startswith("__torch__."):
            return ScriptedObject
        if module == "torch._utils" and name in _REBUILD_FUNCTIONS:
            return getattr(torch._utils, name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "builtins" and name in _BUILTINS:
            return getattr(builtins, name)
        if module == "torch" and name.endswith("Storage"):
            try:  # a name standing for a dtype, as in torch's own weights-only unpickler
                return StorageType(name)
            except KeyError:
                pass
        raise ArchiveError(f"data.pkl refers to {module}.{name}, which a weights file never needs")

    def persistent_load(self, saved_id):
        if not (isinstance(saved_id, tuple) and len(saved_id) == 5 and saved_id[0] == "storage"):
            raise ArchiveError(f"unexpected persistent id {saved_id!r:.80}")
        _kind, storage_type, key, _location, numel = saved_id
        if not (isinstance(storage_type, StorageType) and isinstance(key, str)
                and isinstance(numel, int)):
            raise ArchiveError(f"malformed storage reference {saved_id!r:.80}")
        if key not in self.storages:
            self.storages[key] = self._read_storage(storage_type.dtype, key, numel)
        return self.storages[key]

    def _read_storage(self, dtype, key, numel):
        name = f"{self.prefix}data/{key}"
        try:
            size = self.archive.getinfo(name).file_size
        except KeyError:
            raise ArchiveError(f"storage record data/{key} is missing") from None
        itemsize = torch.empty((), dtype=dtype).element_size()
        if size != numel * itemsize:  # checked before reading: a crafted record may be huge
            raise ArchiveError(f"storage record data/{key} has {size} bytes, not "
                               f"{numel} x {itemsize}")
        raw = bytearray(self.archive.read(name))
        untyped = torch.UntypedStorage.from_buffer(raw, dtype=torch.uint8) if raw else (
            torch.UntypedStorage(0))
        return torch.storage.TypedStorage(wrap_storage=untyped, dtype=dtype, _internal=True)


def is_torchscript_archive(path):
    """A zip with a ``code/`` folder: what ``torch.jit.save`` writes (and OpenAI ships)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.split("/", 1)[-1].startswith("code/") for name in archive.namelist())


def read_torchscript_state_dict(path):
    """The tensors of a TorchScript archive by attribute path; nothing in the file is run."""
    with zipfile.ZipFile(path) as archive:
        prefix = _record_prefix(archive)
        byteorder = prefix + "byteorder"
        if byteorder in archive.namelist():
            order = archive.read(byteorder).decode("ascii", "replace").strip()
            if order != sys.byteorder:
                raise ArchiveError(f"its tensors are {order}-endian, this machine is not")
        with archive.open(prefix + "data.pkl") as data:
            root = _Unpickler(data, archive, prefix).load()
    state = {}
    _collect_tensors(root, "", state)
    return state


def _record_prefix(archive):
    """``<name>/`` in front of every record: the archive's single top-level folder."""
    for name in archive.namelist():
        head, _, tail = name.partition("/")
        if tail == "data.pkl":
            return head + "/"
    raise ArchiveError("no data.pkl record")


def _collect_tensors(obj, prefix, out):
    """Walk the module tree iteratively, each object once (a crafted file may nest deeply or
    refer back to itself)."""
    stack, seen = [(obj, prefix)], set()
    while stack:
        node, path = stack.pop()
        if id(node) in seen or not isinstance(node, ScriptedObject):
            continue
        seen.add(id(node))
        if not isinstance(node.state, dict):
            continue  # custom __getstate__ (never in a CLIP model): nothing to take
        for name, value in node.state.items():
            if torch.is_tensor(value):
                out[f"{path}{name}"] = value
            elif isinstance(value, ScriptedObject):
                stack.append((value, f"{path}{name}."))
