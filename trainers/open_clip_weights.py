"""Where the weights of an open_clip ``model:tag`` are: the caches open_clip itself fills.

open_clip fetches a tag from the Hugging Face hub when its pretrained config names a hub repo
(into the hub cache: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``)
and from a URL otherwise (into ``~/.cache/clip``; ``$CLIP_CACHE_DIR`` here). A file already there
is used without any network access; a missing one is fetched by open_clip's own downloader
unless the machine is declared offline, and then one line says which file and where it goes.
"""

import os

from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME
from open_clip.pretrained import get_pretrained_cfg

from trainers.backbone import CLIPLoadError, clip_cache_dir, offline_variable, sha256_of

HUB_URL = "https://huggingface.co/{repo}/resolve/main/{file}"


def hub_cache_dir():
    """The hub cache, read from the environment now (the hub library reads it at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.path.expanduser(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME", os.path.join("~", ".cache", "huggingface"))
    return os.path.join(os.path.expanduser(home), "hub")


def hub_source(pretrained):
    """(repo, file names in the order open_clip tries them) of a hub entry, or None."""
    hub = pretrained.get("hf_hub", "")
    if not hub:
        return None
    repo, file_name = os.path.split(hub)  # "org/repo/" names the default file
    file_name = file_name or HF_WEIGHTS_NAME
    names = [file_name]
    if file_name == HF_WEIGHTS_NAME:
        names.insert(0, HF_SAFE_WEIGHTS_NAME)
    elif file_name.endswith((".bin", ".pth")):
        names.insert(0, file_name[:-4] + ".safetensors")
    return repo, names


def url_file(pretrained):
    url = pretrained.get("url", "")
    return os.path.join(clip_cache_dir(), os.path.basename(url)) if url else None


def expected_url_sha(url):
    """The SHA-256 (or its prefix) open_clip checks a URL download against, or ''."""
    name = os.path.basename(url)
    if "openaipublic" in url:
        return url.split("/")[-2]
    if "mlfoundations" in url:
        return os.path.splitext(name)[0].split("-")[-1]
    return ""


def cached_file(pretrained):
    """The weights file of a pretrained config already on this machine, or None."""
    from huggingface_hub import try_to_load_from_cache

    source = hub_source(pretrained)
    if source is not None:
        repo, names = source
        for name in names:
            found = try_to_load_from_cache(repo, name, cache_dir=hub_cache_dir())
            if isinstance(found, str) and os.path.isfile(found):
                return found
    path = url_file(pretrained)
    return path if path and os.path.isfile(path) else None


def check_url_file(path, url):
    sha = expected_url_sha(url)
    if sha and url_file({"url": url}) == path and not sha256_of(path).startswith(sha):
        raise CLIPLoadError(f"{path} does not match the SHA-256 in open_clip's URL {url}: the "
                            "file is corrupt or another model; delete it to fetch it again")


def weights_file(model, tag):
    """A local file with the weights of ``model:tag``, fetched by open_clip if need be."""
    pretrained = get_pretrained_cfg(model, tag)
    found = cached_file(pretrained)
    if found:
        check_url_file(found, pretrained.get("url", ""))
        return found
    variable = offline_variable()
    if variable:
        raise missing_weights(model, tag, pretrained, f"{variable} is set: offline")
    try:
        return fetch(pretrained)
    except Exception as error:
        why = f"{type(error).__name__}: {' '.join(str(error).split())[:160]}"
        raise missing_weights(model, tag, pretrained, why) from None


def fetch(pretrained):
    """open_clip's own download into the cache it reads (the hub's, or the URL folder)."""
    from open_clip.pretrained import download_pretrained

    cache = hub_cache_dir() if hub_source(pretrained) else clip_cache_dir()
    path = download_pretrained(pretrained, cache_dir=cache)
    if not path:
        raise CLIPLoadError("open_clip's pretrained config names no file")
    return path


def missing_weights(model, tag, pretrained, why):
    """One line: which file, where it goes, and how to get it there."""
    source = hub_source(pretrained)
    if source is not None:
        repo, names = source
        file_name = names[-1]
        where = os.path.join(hub_cache_dir(), "models--" + repo.replace("/", "--"))
        origin = HUB_URL.format(repo=repo, file=file_name)
    else:
        where = url_file(pretrained)
        file_name, origin = os.path.basename(where), pretrained.get("url", "")
    return CLIPLoadError(
        f"{model}:{tag} weights ({file_name}) are not on disk and could not be fetched ({why}): "
        f"on a machine with internet run `python tools/open_clip_models.py fetch {model}:{tag}` "
        f"and copy {where} to the same place here (HF_HUB_CACHE, HF_HOME or CLIP_CACHE_DIR move "
        f"it), or download {origin} and pass MODEL.BACKBONE.NAME {model}:/path/to/{file_name}")
