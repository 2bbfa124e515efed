"""Config YAML files read strictly: a key given twice in one mapping is refused.

PyYAML (and yacs, which reads configs through it) keeps the last of two equal keys without a
word, so a copy-paste slip such as ``LR`` twice under ``OPTIM`` silently changes the learning
rate of a whole sweep. Every YAML the project reads is checked here before yacs merges it.
"""

import yaml


class DuplicateKeyError(ValueError):
    """A key appears twice in one mapping; the message names the file, key and both lines."""


def load_yaml(path):
    """The parsed file, after checking that no mapping in it repeats a key."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is not None:
        _check_mapping_keys(node, path, [], set())
    return yaml.safe_load(text)


def merge_yaml_file(cfg, path):
    """``cfg.merge_from_file(path)``, refusing a repeated key first (yacs would take the last)."""
    load_yaml(path)
    cfg.merge_from_file(path)


def _check_mapping_keys(node, path, keys, visited):
    if id(node) in visited:  # an alias points back to a node already walked
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line = {}
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            line = key_node.start_mark.line + 1
            if name is not None and name in first_line:
                dotted = ".".join(keys + [name])
                raise DuplicateKeyError(
                    f"{path}: key {dotted} is given twice (lines {first_line[name]} and "
                    f"{line}); yacs would silently keep the second"
                )
            if name is not None:
                first_line[name] = line
            _check_mapping_keys(value_node, path, keys + [str(name)], visited)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_mapping_keys(item, path, keys + [str(index)], visited)
