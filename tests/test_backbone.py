import hashlib
import os
import warnings

import pytest
import torch

from tools.make_tiny_clip import tiny_clip_state_dict, write_tiny_clip
from trainers import backbone
from trainers.backbone import (
    CLIPLoadError,
    apply_precision,
    canonical_model_name,
    load_clip,
    read_state_dict,
    resolve_checkpoint,
    resolve_precision,
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    directory = tmp_path_factory.mktemp("clip")
    return write_tiny_clip(str(directory / "tiny.pt")), write_tiny_clip(
        str(directory / "tiny_jit.pt"), jit=True
    )


def test_plain_and_jit_checkpoints_give_the_same_model(tiny):
    plain, jit = (load_clip(path) for path in tiny)
    for (name, a), (_, b) in zip(plain.state_dict().items(), jit.state_dict().items()):
        assert torch.equal(a, b), name
    assert not any(p.requires_grad for p in plain.parameters())
    assert all(p.dtype == torch.float32 for p in plain.parameters())


def test_loaded_weights_are_the_saved_ones(tiny):
    model = load_clip(tiny[0])
    saved = tiny_clip_state_dict()
    loaded = model.state_dict()
    keys = ("token_embedding.weight", "visual.conv1.weight",
            "transformer.resblocks.1.attn.in_proj_weight")
    for key in keys:
        assert torch.allclose(loaded[key], saved[key], rtol=1e-3, atol=1e-4)


def test_missing_path_is_one_clear_error(tmp_path):
    with pytest.raises(CLIPLoadError, match="CLIP checkpoint not found: .*nope.pt"):
        resolve_checkpoint(str(tmp_path / "nope.pt"))


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(CLIPLoadError, match="ViT-B/16"):
        resolve_checkpoint("ViT-Z/99")


def test_corrupt_file_is_refused(tmp_path):
    path = tmp_path / "broken.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CLIPLoadError, match="cannot read CLIP checkpoint .*broken.pt"):
        read_state_dict(str(path))


def test_not_a_clip_state_dict_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(CLIPLoadError, match="not a CLIP checkpoint"):
        read_state_dict(str(path))


def test_named_backbone_reads_the_checked_cache(tmp_path, monkeypatch, tiny):
    # Pretend the tiny file is OpenAI's ViT-B/16: its SHA in the table, the file in the cache.
    with open(tiny[0], "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    monkeypatch.setitem(backbone.OPENAI_MODELS, "ViT-B/16", ("ViT-B-16.pt", sha, "none"))
    monkeypatch.setenv("CLIP_CACHE_DIR", str(tmp_path))
    cached = tmp_path / "ViT-B-16.pt"
    cached.write_bytes(open(tiny[0], "rb").read())
    assert resolve_checkpoint("ViT-B/16") == str(cached)
    assert resolve_checkpoint("ViT-B-16") == str(cached)
    cached.write_bytes(b"tampered")
    with pytest.raises(CLIPLoadError, match="does not match the SHA-256"):
        resolve_checkpoint("ViT-B/16")
    assert cached.read_bytes() == b"tampered"  # never overwritten silently


def test_offline_without_cache_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CLIP_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(backbone.urllib.request, "urlopen", offline)
    with pytest.raises(CLIPLoadError) as info:
        resolve_checkpoint("ViT-B/16")
    message = str(info.value)
    assert os.path.join(str(tmp_path), "ViT-B-16.pt") in message and "\n" not in message
    assert os.listdir(tmp_path) == []  # no partial download left behind


def offline_everywhere(monkeypatch, tmp_path):
    """No network at all: OpenAI's URL and the hub's host fail; the hub download must not run."""
    monkeypatch.setenv("CLIP_CACHE_DIR", str(tmp_path))
    for name in backbone.OFFLINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    tried = []

    def no_network(*args, **kwargs):
        tried.append(args)
        raise backbone.urllib.error.URLError(OSError("Temporary failure in name resolution"))

    def no_hub(model):
        raise AssertionError("the hub mirror was tried although the machine is offline")

    monkeypatch.setattr(backbone.urllib.request, "urlopen", no_network)
    monkeypatch.setattr(backbone.socket, "create_connection", no_network)
    monkeypatch.setattr(backbone, "_download_from_hub", no_hub)
    return tried


def test_offline_is_detected_at_the_first_failure(tmp_path, monkeypatch):
    tried = offline_everywhere(monkeypatch, tmp_path)
    with pytest.raises(CLIPLoadError, match="could not be downloaded .offline: URLError") as info:
        resolve_checkpoint("ViT-B/16")
    assert os.path.join(str(tmp_path), "ViT-B-16.pt") in str(info.value)
    assert len(tried) == 2  # OpenAI's URL, then one probe of the hub's host


@pytest.mark.parametrize("variable", ["SAR_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
def test_an_offline_variable_skips_every_download(tmp_path, monkeypatch, variable):
    tried = offline_everywhere(monkeypatch, tmp_path)
    monkeypatch.setenv(variable, "1")
    with pytest.raises(CLIPLoadError, match=f"{variable} is set: offline"):
        resolve_checkpoint("ViT-B/16")
    assert tried == []


def test_a_server_answer_still_falls_back_to_the_hub(tmp_path, monkeypatch):
    offline_everywhere(monkeypatch, tmp_path)

    def not_found(*args, **kwargs):
        raise backbone.urllib.error.HTTPError("url", 404, "Not Found", {}, None)

    mirror = tmp_path / "hub.bin"
    monkeypatch.setattr(backbone.urllib.request, "urlopen", not_found)
    monkeypatch.setattr(backbone, "_download_from_hub", lambda model: str(mirror))
    assert resolve_checkpoint("ViT-B/16") == str(mirror)


def test_both_name_spellings():
    assert canonical_model_name("ViT-B/16") == canonical_model_name("ViT-B-16") == "ViT-B/16"
    assert canonical_model_name("foo") is None


def test_half_precisions_fall_back_to_fp32_on_cpu():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert resolve_precision("fp16", "cpu") == "fp32"
        assert resolve_precision("bf16", "cpu") == "fp32"
    assert any("fp32" in str(w.message) for w in caught)
    assert resolve_precision("fp32", "cpu") == "fp32"
    with pytest.raises(ValueError, match="PREC"):
        resolve_precision("int8", "cpu")


def test_apply_precision_casts_weights(tiny):
    model = apply_precision(load_clip(tiny[0]), "bf16")
    assert model.positional_embedding.dtype == torch.bfloat16


def test_random_architecture_goes_through_the_same_builder():
    model = load_clip("random:tiny")
    assert clip_image_size_of(model) == (32, 32)
    assert model.text_projection.shape == (64, 32)
    with pytest.raises(ValueError, match="ViT-B/16"):
        load_clip("random:ViT-Q/1")


def clip_image_size_of(model):
    return backbone.clip_image_size(model)
