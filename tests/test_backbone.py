import hashlib
import os
import pickle
import warnings
import zipfile

import pytest
import torch
from open_clip.transformer import QuickGELU

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


class WritesAFile(torch.nn.Module):
    """A scripted module whose __setstate__, run by torch.jit.load, creates ``path``."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.text_projection = torch.nn.Parameter(torch.zeros(2, 2))

    @torch.jit.export
    def __getstate__(self) -> tuple[str, torch.Tensor, bool]:
        return (self.path, self.text_projection, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, torch.Tensor, bool]) -> None:
        self.path = state[0]
        self.text_projection = state[1]
        written = torch.from_file(self.path, True, 8, dtype=torch.uint8)
        self.training = bool(written.fill_(65).sum() > 0)

    def forward(self, x):
        return x


def test_crafted_torchscript_archive_runs_no_code(tmp_path):
    marker = tmp_path / "written-by-the-archive"
    archive = tmp_path / "crafted.pt"
    torch.jit.save(torch.jit.script(WritesAFile(str(marker))), str(archive))
    with pytest.raises(CLIPLoadError, match="crafted.pt is not a CLIP checkpoint"):
        load_clip(str(archive))
    assert not marker.exists()
    torch.jit.load(str(archive))  # the archive is really hostile: torch.jit.load runs it
    assert marker.read_bytes() == b"A" * 8


class _RunsAShellCommand:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_archive_whose_pickle_names_a_function_is_refused(tmp_path, tiny):
    marker = tmp_path / "marker"
    hostile = tmp_path / "hostile.pt"
    with zipfile.ZipFile(tiny[1]) as source, zipfile.ZipFile(hostile, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("/data.pkl"):
                data = pickle.dumps(_RunsAShellCommand(f"touch {marker}"), protocol=2)
            target.writestr(info, data)
    with pytest.raises(CLIPLoadError, match="hostile.pt.*refers to (posix|os).system"):
        load_clip(str(hostile))
    assert not marker.exists()


def test_openai_layout_archives_load_the_same_weights_without_jit(tiny, tmp_path, monkeypatch):
    half = tmp_path / "tiny_jit_fp16.pt"  # OpenAI ships its archives in fp16
    torch.jit.save(torch.jit.load(tiny[1]).half(), str(half))
    expected = {k: v.half().float() for k, v in load_clip(tiny[0]).state_dict().items()}

    def refuse(*args, **kwargs):
        raise AssertionError("torch.jit.load must not be called")

    monkeypatch.setattr(torch.jit, "load", refuse)
    for path, reference in ((tiny[1], load_clip(tiny[0]).state_dict()), (str(half), expected)):
        loaded = load_clip(path).state_dict()
        assert loaded.keys() == reference.keys()
        assert all(torch.equal(loaded[k], reference[k]) for k in reference), path


def test_named_archive_checked_by_sha_loads_and_only_it_may_use_jit(tiny, tmp_path, monkeypatch):
    sha = backbone.sha256_of(tiny[1])
    monkeypatch.setitem(backbone.OPENAI_MODELS, "ViT-B/16", ("ViT-B-16.pt", sha, "none"))
    monkeypatch.setenv("CLIP_CACHE_DIR", str(tmp_path))
    (tmp_path / "ViT-B-16.pt").write_bytes(open(tiny[1], "rb").read())
    reference = load_clip(tiny[0]).state_dict()
    named = load_clip("ViT-B/16").state_dict()
    assert all(torch.equal(named[k], reference[k]) for k in reference)

    def reader_fails(path):
        raise ValueError("cannot take this archive apart")

    monkeypatch.setattr(backbone, "read_torchscript_state_dict", reader_fails)
    trusted = load_clip("ViT-B/16").state_dict()  # OpenAI's checksum: torch.jit.load may run
    assert all(torch.equal(trusted[k], reference[k]) for k in reference)
    local = tmp_path / "local.pt"
    torch.jit.save(torch.jit.script(WritesAFile(str(tmp_path / "m"))), str(local))
    with pytest.raises(CLIPLoadError, match="cannot take this archive apart"):
        load_clip(str(local))  # any other file: never
    assert not (tmp_path / "m").exists()


def test_archive_that_refers_back_to_itself_is_read_once(tmp_path, tiny, monkeypatch):
    import sys
    import types

    module = types.ModuleType("__torch__")  # where TorchScript's classes live in data.pkl
    loop = type("Loop", (), {"__module__": "__torch__"})
    module.Loop = loop
    monkeypatch.setitem(sys.modules, "__torch__", module)
    root = loop()
    root.child = root  # a cycle: a naive walk would never end
    looped = tmp_path / "looped.pt"
    with zipfile.ZipFile(tiny[1]) as source, zipfile.ZipFile(looped, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("/data.pkl"):
                data = pickle.dumps(root, protocol=2)
            target.writestr(info, data)
    with pytest.raises(CLIPLoadError, match="looped.pt is not a CLIP checkpoint"):
        load_clip(str(looped))


def test_openai_names_keep_quickgelu_and_refuse_a_contradicting_key(tiny, tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.setenv("CLIP_CACHE_DIR", str(tmp_path))
    with pytest.raises(CLIPLoadError, match="contradicts OpenAI's ViT-B/16"):
        load_clip("ViT-B/16", quick_gelu=False)
    model = load_clip("random:tiny", quick_gelu=False)
    assert not isinstance(model.transformer.resblocks[0].mlp.gelu, QuickGELU)
    assert isinstance(load_clip("random:tiny").transformer.resblocks[0].mlp.gelu, QuickGELU)
