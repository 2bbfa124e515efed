"""The open_clip CLIPs this project can prompt-tune, and open_clip's own download of one.

    python tools/open_clip_models.py list            # name:tag, activation, trainers, on disk?
    python tools/open_clip_models.py list --all      # also the refused models, each with why
    python tools/open_clip_models.py fetch ViT-B-16:laion2b_s34b_b88k   # needs internet

A ``name:tag`` printed by ``list`` is what ``MODEL.BACKBONE.NAME`` takes. ``fetch`` puts the
weights where open_clip (and train.py) look for them: the Hugging Face hub cache, or
``CLIP_CACHE_DIR`` for weights open_clip only knows by URL. Copy that cache to an offline
machine and the same name loads there without network.
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from open_clip.factory import get_model_config  # noqa: E402
from open_clip.pretrained import get_pretrained_cfg  # noqa: E402
from tabulate import tabulate  # noqa: E402

from trainers.backbone import CLIPLoadError  # noqa: E402
from trainers.open_clip_backbones import (  # noqa: E402
    activation_name,
    model_config,
    parse_name,
    prompt_tunable_pretrained,
    refusal,
    refusal_line,
    refused_pretrained,
    takes_deep_prompts,
)
from trainers.open_clip_weights import cached_file, weights_file  # noqa: E402

NO_DEEP_PROMPTS = "not MaPLe/PromptSRC"  # no token sequence in the image tower


def list_rows(show_refused):
    rows = []
    for model, tag in prompt_tunable_pretrained():
        pretrained = get_pretrained_cfg(model, tag)
        trainers = "all" if takes_deep_prompts(get_model_config(model)) else NO_DEEP_PROMPTS
        rows.append([f"{model}:{tag}", activation_name(pretrained.get("quick_gelu", False)),
                     trainers, cached_file(pretrained) or "not on disk"])
    if show_refused:
        rows += [[f"{model}:{tag}", "-", "none", f"refused: {why}"]
                 for model, tag, why in refused_pretrained()]
    return rows


def fetch_one(name):
    """The file of ``name`` (a model:tag): found on disk, or downloaded by open_clip's own
    downloader (``SAR_OFFLINE`` set: the one line that says where it goes)."""
    parsed = parse_name(name)
    if parsed is None or not parsed.tag:
        raise CLIPLoadError(f"{name!r} is not an open_clip model:tag (see `list`)")
    model_cfg = model_config(parsed)
    why = refusal(parsed.model, model_cfg)
    if why:
        raise CLIPLoadError(refusal_line(name, why))
    return weights_file(parsed.model, parsed.tag)  # on disk already, or open_clip's download


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="the prompt-tunable open_clip models")
    listing.add_argument("--all", action="store_true", help="also list refused models and why")
    getting = commands.add_parser("fetch", help="download a model:tag into open_clip's cache")
    getting.add_argument("name", help="model:tag as `list` prints it")
    args = parser.parse_args(argv)
    if args.command == "list":
        print(tabulate(list_rows(args.all),
                       headers=["MODEL.BACKBONE.NAME", "activation", "trainers", "weights"]))
        return 0
    try:
        print(fetch_one(args.name))
    except CLIPLoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
