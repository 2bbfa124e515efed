"""Novel-class banks for SAR (the "N" in K = B ∪ N).

SAR aligns class-similarity structure over the base classes *plus* a bank of novel class
names that stand in for the unseen classes. This module turns `TRAINER.SAR.NOVEL_SOURCE`
into that list of names:

* ``"llm"``    -- the bank shipped in ``datasets/novel_classes/<Dataset>.json`` (ImageNet's
  bank serves its test-only variants);
* ``"random"`` -- seeded whole words from CLIP's BPE vocabulary, as many as the LLM bank
  holds (the "other word sources" ablation);
* a path      -- a user's JSON (``{"classes": [...]}`` or a plain list) or a text file with
  one name per line.

Whatever the source, a leak guard drops every entry that names a class of the evaluated
dataset (base *or* new): a regulariser fed the test class names would make base-to-new
results worthless, so the guard is not optional. Banks are read as JSON or text only, never
unpickled, because they may come from anywhere.
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path

BANK_DIR = Path(__file__).resolve().parent.parent / "datasets" / "novel_classes"

# Test-only ImageNet variants share ImageNet's class names, hence its bank.
BANK_ALIASES = {
    "ImageNetV2": "ImageNet",
    "ImageNetSketch": "ImageNet",
    "ImageNetA": "ImageNet",
    "ImageNetR": "ImageNet",
}

_MIN_WORD_LEN = 3


def normalize_classname(name: str) -> str:
    """Canonical form used to compare class names.

    Lowercase, accents folded ("crème brûlée" == "creme brulee"), ``_`` and ``-`` read as
    spaces, other punctuation removed ("colt's foot" == "colts foot"), whitespace collapsed.
    Dataset split files and LLM output spell the same class in all these ways.
    """
    text = unicodedata.normalize("NFKD", str(name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"[_\-]", " ", text)
    text = re.sub(r"[^\w\s]", "", text)
    return " ".join(text.split())


def bank_path(dataset_name: str) -> Path:
    """Where the shipped LLM bank of ``dataset_name`` lives (variants map to their parent)."""
    return BANK_DIR / f"{BANK_ALIASES.get(dataset_name, dataset_name)}.json"


def _read_json(path: Path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise ValueError(f"SAR novel bank: {path} is not valid UTF-8 JSON ({e})") from None


def _read_bank_file(path: Path) -> list[str]:
    """Names from a JSON bank (object with "classes", or a list) or a one-per-line text file."""
    if not path.is_file():
        raise FileNotFoundError(f"SAR novel bank: file not found: {path}")
    if path.suffix.lower() == ".json":
        data = _read_json(path)
        names = data.get("classes") if isinstance(data, dict) else data
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(
                f"SAR novel bank: {path} must hold a list of strings "
                "(or an object whose \"classes\" is one)"
            )
        return names
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f]
    except UnicodeDecodeError as e:
        raise ValueError(f"SAR novel bank: {path} is not UTF-8 text ({e})") from None
    return [line for line in lines if line and not line.startswith("#")]


def _read_llm_bank(dataset_name: str) -> list[str]:
    path = bank_path(dataset_name)
    if not path.is_file():
        raise FileNotFoundError(
            f"SAR novel bank: no LLM bank for dataset '{dataset_name}': expected {path}"
        )
    return _read_bank_file(path)


@lru_cache(maxsize=1)
def clip_vocab_words() -> tuple[str, ...]:
    """Whole, alphabetic words (length >= 3) of CLIP's BPE vocabulary, sorted.

    Whole words are the vocabulary entries ending in ``</w>``; sorting makes a seeded sample
    independent of dict order, so ``random`` banks are reproducible across runs and machines.
    Cached: building the tokenizer takes a moment and the vocabulary never changes.
    """
    from open_clip.tokenizer import SimpleTokenizer  # lazy: only the "random" source needs it

    words = set()
    for token in SimpleTokenizer().encoder:
        if not token.endswith("</w>"):
            continue
        word = token[: -len("</w>")]
        if len(word) >= _MIN_WORD_LEN and word.isascii() and word.isalpha():
            words.add(word)
    return tuple(sorted(words))


def random_word_bank(dataset_classnames: Iterable[str], count: int, seed: int = 0) -> list[str]:
    """``count`` seeded CLIP-vocabulary words that name no class of the dataset.

    Words equal to a class name, or to any word inside one (e.g. "pie" for "apple pie"), are
    excluded so the random control carries no class information at all.
    """
    banned = set()
    for name in dataset_classnames:
        norm = normalize_classname(name)
        banned.add(norm)
        banned.update(norm.split())
    pool = [w for w in clip_vocab_words() if w not in banned]
    if count > len(pool):
        raise ValueError(f"SAR novel bank: asked for {count} random words, only {len(pool)} exist")
    return random.Random(seed).sample(pool, count)


def filter_bank(
    names: Iterable[str],
    dataset_classnames: Iterable[str],
    dataset_name: str,
    logger: Callable[[str], object] = print,
) -> list[str]:
    """Leak guard: drop entries naming a dataset class, drop blanks and duplicates.

    Comparison is on :func:`normalize_classname`. The first spelling of each name is kept, in
    order. The number of dropped class matches is always logged, so a run's log shows that the
    bank it used held no test class.
    """
    class_keys = {normalize_classname(c) for c in dataset_classnames}
    kept, seen, leaked = [], set(), []
    for name in names:
        name = " ".join(str(name).split())
        key = normalize_classname(name)
        if not key or key in seen:
            continue
        if key in class_keys:
            leaked.append(name)
            continue
        seen.add(key)
        kept.append(name)
    msg = f"SAR novel bank: dropped {len(leaked)} entries that match class names of {dataset_name}"
    if leaked:
        msg += f" (e.g. {', '.join(leaked[:5])})"
    logger(msg)
    return kept


def load_novel_bank(
    source: str,
    dataset_name: str,
    dataset_classnames: Iterable[str],
    seed: int = 0,
    logger: Callable[[str], object] = print,
) -> list[str]:
    """Novel class names for SAR, guarded against the dataset's own classes.

    Args:
        source: ``"llm"``, ``"random"``, or a path to a ``.json`` / text bank.
        dataset_name: registered dataset name (``"OxfordPets"``, ``"ImageNetSketch"``, ...).
        dataset_classnames: ALL classes of the dataset, base and new -- the guard must see the
            new ones too, since those are exactly the names that must never leak in.
        seed: seed of the ``random`` source (ignored otherwise).
        logger: called with one-line messages (dropped entries, final size).

    Raises:
        FileNotFoundError / ValueError with a one-line message naming the file or source, and
        ValueError when nothing is left after the guard.
    """
    classnames = list(dataset_classnames)
    source = str(source)
    keyword = source.strip().lower()
    if keyword == "llm":
        origin = str(bank_path(dataset_name))
        names = _read_llm_bank(dataset_name)
    elif keyword == "random":
        count = len(filter_bank(_read_llm_bank(dataset_name), classnames, dataset_name,
                                logger=lambda _msg: None))
        origin = f"random CLIP words (seed {seed})"
        names = random_word_bank(classnames, count, seed)
    else:
        origin = source
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"SAR novel bank: source '{source}' is neither 'llm', 'random' nor an existing file"
            )
        names = _read_bank_file(path)
    bank = filter_bank(names, classnames, dataset_name, logger=logger)
    if not bank:
        raise ValueError(
            f"SAR novel bank from {origin} is empty after removing blanks, duplicates and "
            f"class names of {dataset_name}"
        )
    logger(f"SAR novel bank: {len(bank)} novel classes for {dataset_name} from {origin}")
    return bank
