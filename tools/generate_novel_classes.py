#!/usr/bin/env python
"""Regenerate a SAR novel-class bank with any OpenAI-compatible chat endpoint.

The paper asks an LLM for classes *related to* a dataset's base classes, to stand in for the
unseen classes during prompt tuning. This tool asks that question and writes the answer as
``datasets/novel_classes/<Dataset>.json`` with its provenance (model, exact prompt, date,
endpoint host -- never the key), after the same leak guard the trainer applies.

Environment:
    OPENAI_API_KEY   required; sent as a Bearer token, never written anywhere.
    OPENAI_BASE_URL  default https://api.openai.com/v1 (any OpenAI-compatible server:
                     vLLM, Ollama's /v1, LiteLLM, Azure-style gateways, ...).
    SAR_BANK_MODEL   default gpt-4o (the paper used ChatGPT-4o).

Example:
    head -n 19 tests/data/dataset_classnames/OxfordPets.txt > /tmp/pets_base.txt
    python tools/generate_novel_classes.py --dataset OxfordPets --classes-file /tmp/pets_base.txt \\
        --exclude-file tests/data/dataset_classnames/OxfordPets.txt

Exit codes: 0 written; 1 bad arguments or input file; 2 no API key; 3 endpoint unreachable;
4 the endpoint answered with an error or with no usable class names. Nothing is written unless
the exit code is 0.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import importlib.util
import json
import math
import os
import re
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o"

# What the classes of each dataset are, so the LLM answers at the same granularity.
DATASET_KINDS = {
    "OxfordPets": "cat and dog breeds",
    "OxfordFlowers": "flower species",
    "FGVCAircraft": "aircraft model variants (e.g. 'A340-600', '737-800')",
    "DescribableTextures": "texture adjectives",
    "EuroSAT": "land-cover and land-use types seen in satellite images",
    "StanfordCars": "car names in 'year make model body' form",
    "Food101": "dishes",
    "SUN397": "scene categories",
    "Caltech101": "object categories",
    "UCF101": "human actions",
    "ImageNet": "object and animal categories",
}

SYSTEM_PROMPT = "You are a careful assistant that writes lists of visual category names."

PROMPT_TEMPLATE = (
    "The {dataset} image classification dataset has these base classes ({kind}):\n"
    "{classes}\n\n"
    "List {count} other class names of the same kind and granularity that are related to "
    "these base classes but are not among them, so that they could serve as unseen classes "
    "of this dataset. Do not repeat, pluralise or rephrase any given class. Answer with one "
    "class name per line, with no numbering and no other text."
)


def _load_novel_bank_module():
    """Import trainers/novel_bank.py by path: the tool then shares the trainer's normalisation
    and leak guard without importing the trainers package (which pulls in torch and Dassl)."""
    path = REPO_ROOT / "trainers" / "novel_bank.py"
    spec = importlib.util.spec_from_file_location("_sar_novel_bank", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_prompt(dataset: str, classes: list[str], count: int, kind: str | None = None) -> str:
    """The exact user message sent to the model (and recorded in the bank's provenance)."""
    kind = kind or DATASET_KINDS.get(dataset, "visual categories")
    return PROMPT_TEMPLATE.format(
        dataset=dataset, kind=kind, classes=", ".join(classes), count=count
    )


def read_names(path: str) -> list[str]:
    """One name per line; blank lines and '#' comments ignored."""
    with open(path, encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    return [line for line in lines if line and not line.startswith("#")]


def parse_reply(text: str) -> list[str]:
    """Class names from a reply, one per line, tolerating bullets, numbering and quotes."""
    names = []
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:[-*\u2022]+|\d+[.)]|\(\d+\))\s*", "", line)
        line = line.strip().strip("\"'`").rstrip(",;.").strip()
        if line and not line.endswith(":"):
            names.append(line)
    return names


def chat_completion(base_url: str, key: str, model: str, prompt: str, timeout: float) -> dict:
    """POST /chat/completions with urllib (no client library needed)."""
    body = {
        "model": model,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": prompt},
        ],
    }
    request = urllib.request.Request(
        base_url.rstrip("/") + "/chat/completions",
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write to a temporary file beside ``path`` then rename, so a bank is never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _fail(code: int, message: str) -> int:
    print(f"generate_novel_classes: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", required=True, help="registered name, e.g. OxfordPets")
    parser.add_argument("--classes-file", required=True,
                        help="text file of the dataset's base classes, one per line")
    parser.add_argument("--exclude-file",
                        help="extra names to guard against but not show the model "
                             "(pass the dataset's full class list here)")
    parser.add_argument("--count", type=int,
                        help="how many names to ask for (default: 1.2 x the base classes)")
    parser.add_argument("--kind", help="what the classes are (default: per-dataset description)")
    parser.add_argument("--out",
                        help="output JSON (default: datasets/novel_classes/<dataset>.json)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds (default 300)")
    args = parser.parse_args(argv)

    try:
        base_classes = read_names(args.classes_file)
        excluded = read_names(args.exclude_file) if args.exclude_file else []
    except OSError as e:
        return _fail(1, f"cannot read class list: {e}")
    if not base_classes:
        return _fail(1, f"no class names in {args.classes_file}")
    count = args.count or math.ceil(1.2 * len(base_classes))
    out = Path(args.out) if args.out else REPO_ROOT / "datasets" / "novel_classes" / (
        f"{args.dataset}.json")

    key = os.environ.get("OPENAI_API_KEY", "").strip()
    if not key:
        return _fail(2, "OPENAI_API_KEY is not set; no request sent, nothing written")
    base_url = os.environ.get("OPENAI_BASE_URL", "").strip() or DEFAULT_BASE_URL
    model = os.environ.get("SAR_BANK_MODEL", "").strip() or DEFAULT_MODEL
    host = urllib.parse.urlsplit(base_url).netloc.rpartition("@")[2]  # drop any user:pass@

    prompt = build_prompt(args.dataset, base_classes, count, args.kind)
    try:
        reply = chat_completion(base_url, key, model, prompt, args.timeout)
    except urllib.error.HTTPError as e:
        return _fail(4, f"endpoint {host} answered HTTP {e.code} {e.reason}; nothing written")
    except (OSError, http.client.HTTPException) as e:  # URLError, timeouts, resets, TLS
        reason = getattr(e, "reason", e)
        return _fail(3, f"cannot reach endpoint {host} ({reason}); no network? nothing written")
    except ValueError as e:  # includes JSON and UTF-8 decoding errors
        return _fail(4, f"endpoint {host} did not return JSON ({e}); nothing written")

    try:
        content = reply["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        content = None
    if not isinstance(content, str):
        return _fail(4, f"endpoint {host} returned no chat completion text; nothing written")
    raw = parse_reply(content)
    novel_bank = _load_novel_bank_module()
    messages = []
    classes = novel_bank.filter_bank(raw, base_classes + excluded, args.dataset,
                                     logger=messages.append)
    if not classes:
        return _fail(4, f"no usable class names in the reply of {host}; nothing written")

    payload = {
        "dataset": args.dataset,
        "classes": classes,
        "provenance": {
            "model": str(reply.get("model") or model),
            "requested_model": model,
            "prompt": prompt,
            "system_prompt": SYSTEM_PROMPT,
            "date": datetime.date.today().isoformat(),
            "method": "LLM chat completion via tools/generate_novel_classes.py, "
                      "filtered by trainers/novel_bank.filter_bank",
            "endpoint_host": host,
        },
        "notes": f"asked for {count}; reply had {len(raw)} lines; kept {len(classes)}. "
                 + " ".join(messages),
    }
    write_json_atomic(out, payload)
    print(f"wrote {len(classes)} classes for {args.dataset} to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
