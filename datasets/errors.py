"""The one-line errors of the dataset readers.

They live apart from :mod:`datasets.coop_format` so that the split checks and the reader of the
forks' pickles can raise them without importing the reader machinery; ``coop_format``
re-exports them, so ``datasets.coop_format.DatasetError`` stays the public name.
"""

DOCS_HINT = "see DATASETS.md"


class DatasetError(RuntimeError):
    """A dataset cannot be loaded; the message is one line that names the offending path."""


class DatasetNotFoundError(DatasetError):
    """An expected folder or file (dataset folder, split file, label file) does not exist."""


class SplitFormatError(DatasetError):
    """A split, label or cache file exists but cannot be parsed, or its rows disagree."""


class MissingImagesError(DatasetError):
    """A split lists images that are not on disk."""
