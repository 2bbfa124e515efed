"""Name -> class registry, used for trainers, datasets and the other pluggable parts."""


class Registry:
    def __init__(self, name):
        self._name = name
        self._obj_map = {}

    def _do_register(self, name, obj, force=False):
        if name in self._obj_map and not force:
            raise KeyError(
                f'An object named "{name}" was already registered in "{self._name}" registry'
            )
        self._obj_map[name] = obj

    def register(self, obj=None, force=False):
        """Use as ``@REGISTRY.register()`` or ``REGISTRY.register(cls)``."""
        if obj is None:

            def wrapper(fn_or_class):
                self._do_register(fn_or_class.__name__, fn_or_class, force=force)
                return fn_or_class

            return wrapper
        self._do_register(obj.__name__, obj, force=force)
        return obj

    def get(self, name):
        if name not in self._obj_map:
            raise KeyError(f'Object name "{name}" does not exist in "{self._name}" registry')
        return self._obj_map[name]

    def registered_names(self):
        return list(self._obj_map.keys())

    def __contains__(self, name):
        return name in self._obj_map


def check_availability(requested, available):
    """Raise a one-line error listing what is available when ``requested`` is unknown."""
    if requested not in available:
        raise ValueError(
            f'The requested one "{requested}" is not available; choose from {sorted(available)}'
        )
