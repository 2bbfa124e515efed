"""open_clip CLIPs by ``model:tag`` (trainers/open_clip_backbones.py, open_clip_weights.py,
backbone_input.py): tiny models built by open_clip's factory from a small model config, saved
in the hub cache as open_clip publishes them, equal to open_clip's own model in every trainer."""

import json
import os
from types import SimpleNamespace

import open_clip
import pytest
import torch
from PIL import Image

import train
import trainers.sar_trainers  # noqa: F401  (registers the SAR trainers)
from tests.helpers import (
    PROMPTSRC_TINY,
    eurosat_setup,
    eval_on_new,
    read_log,
    tiny_clip_path,
    train_argv,
    trainer_for,
)
from tools.open_clip_models import main as models_main
from trainers.backbone import CLIPLoadError
from trainers.backbone_input import fill_input
from trainers.base import normalize
from trainers.config import extend_cfg
from trainers.open_clip_backbones import load_backbone as load_clip
from trainers.prompts import hand_crafted_texts

TINY = "SARTiny-ViT"
# OpenAI's head width (64), so a bare path rebuilt from OpenAI's layout fits it too
TINY_CFG = {
    "embed_dim": 48,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 2},
}
INCEPTION = (0.5, 0.5, 0.5)
# tag: (seed, its pretrained-config extras, the weights file open_clip publishes)
TAGS = {
    "gelu": (1, {}, "open_clip_model.safetensors"),
    # QuickGELU weights listed under the plain (GELU) name, as ViT-B-16 metaclip_400m is
    "quickgelu": (2, {"quick_gelu": True}, "open_clip_pytorch_model.bin"),
    "inception": (3, {"mean": INCEPTION, "std": INCEPTION}, "open_clip_pytorch_model.bin"),
}
CONFIGS = {  # trainer: its config file
    "ZeroshotCLIP": "ZeroshotCLIP/vit_b16",
    "CoOp": "CoOp/vit_b16_ctxv1", "CoOp_SAR": "CoOp_SAR/vit_b16_ctxv1",
    "CoCoOp": "CoCoOp/vit_b16_c4_ep10_batch1_ctxv1",
    "CoCoOp_SAR": "CoCoOp_SAR/vit_b16_c4_ep10_batch1_ctxv1",
    "KgCoOp": "KgCoOp/vit_b16_ep100_ctxv1", "KgCoOp_SAR": "KgCoOp_SAR/vit_b16_ep100_ctxv1",
    "MaPLe": "MaPLe/vit_b16_c2_ep5_batch4_2ctx",
    "MaPLe_SAR": "MaPLe_SAR/vit_b16_c2_ep5_batch4_2ctx",
    "PromptSRC": "PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx",
    "PromptSRC_SAR": "PromptSRC_SAR/vit_b16_c2_ep20_batch4_4+4ctx",
}


def write_hub_file(cache, repo, file_name, state):
    """``state`` saved as open_clip saves pretrained weights, where the hub cache keeps it."""
    folder = cache / ("models--" + repo.replace("/", "--"))
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("0" * 40)
    snapshot = folder / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    path = snapshot / file_name
    if file_name.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    return str(path)


def widen_mlp_inputs(model, factor=6.0):
    """Random init keeps the MLP inputs near 0, where GELU and QuickGELU nearly agree, and its
    output small; trained weights do not. Scaled up, the two activations differ clearly."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("mlp.c_fc.weight", "mlp.c_proj.weight")):
                param.mul_(factor)


def write_local_dir(folder, seed):
    """A GELU tiny model with inception mean/std, saved as open_clip saves a model for the hub
    (its open_clip_config.json beside open_clip_model.safetensors): a ``local-dir:`` folder."""
    from pathlib import Path

    from open_clip.push_to_hf_hub import save_config_for_hf
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = open_clip.create_model(TINY, force_preprocess_cfg={"mean": INCEPTION,
                                                               "std": INCEPTION})
    widen_mlp_inputs(model)
    folder.mkdir(parents=True)
    save_file(model.state_dict(), str(folder / "open_clip_model.safetensors"))
    save_config_for_hf(model, Path(folder) / "open_clip_config.json", model_config=TINY_CFG)
    return str(folder)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """The tiny model config in open_clip's registry, its three tags, their weights in a hub
    cache of their own; SAR_OFFLINE so nothing is ever fetched."""
    base = tmp_path_factory.mktemp("open_clip_hub")
    (base / "configs").mkdir()
    (base / "configs" / f"{TINY}.json").write_text(json.dumps(TINY_CFG))
    (base / "configs" / f"{TINY}-quickgelu.json").write_text(
        json.dumps({**TINY_CFG, "quick_gelu": True}))
    open_clip.add_model_config(base / "configs")
    registry, files = open_clip.pretrained._PRETRAINED, {}
    registry[TINY] = {}
    for tag, (seed, extras, file_name) in TAGS.items():
        repo = f"sar-test/tiny-{tag}"
        registry[TINY][tag] = open_clip.pretrained._pcfg(hf_hub=f"{repo}/", **extras)
        torch.manual_seed(seed)
        model = open_clip.create_model(TINY, quick_gelu=extras.get("quick_gelu", False))
        widen_mlp_inputs(model)
        files[tag] = write_hub_file(base / "hub", repo, file_name, model.state_dict())
    folder = write_local_dir(base / "saved", seed=4)
    patch = pytest.MonkeyPatch()
    patch.setenv("HF_HUB_CACHE", str(base / "hub"))
    patch.setenv("SAR_OFFLINE", "1")
    root, clip, _ = eurosat_setup(tmp_path_factory, "open_clip_data")
    yield SimpleNamespace(base=base, files=files, root=root, openai_clip=clip, folder=folder)
    patch.undo()
    registry.pop(TINY, None)


def reference(hub, tag, model=TINY):
    """open_clip's own model, loaded by open_clip from the published file."""
    return open_clip.create_model(model, pretrained=hub.files[tag]).eval()


def reference_logits(clip_model, images, texts):
    with torch.no_grad():
        image = normalize(clip_model.encode_image(images))
        text = normalize(clip_model.encode_text(open_clip.tokenize(texts)))
        return clip_model.logit_scale.exp() * image @ text.t()


def argv(hub, trainer, out, name=f"{TINY}:gelu", opts=(), flags=()):
    return train_argv(hub.root, name, out, trainer, CONFIGS[trainer], *flags, opts=[
        "TRAINER.SAR.NOVEL_SOURCE", "random", "TRAINER.MAPLE.PROMPT_DEPTH", "2",
        *PROMPTSRC_TINY, *opts])


def test_tag_decides_the_activation(hub, capsys):
    model = load_clip(f"{TINY}:quickgelu")
    assert isinstance(model.transformer.resblocks[0].mlp.gelu, open_clip.transformer.QuickGELU)
    assert "Activation: QuickGELU (from open_clip's pretrained config of" in capsys.readouterr().out
    assert not isinstance(load_clip(f"{TINY}:gelu").visual.transformer.resblocks[0].mlp.gelu,
                          open_clip.transformer.QuickGELU)


def test_model_and_file_take_the_model_names_activation(hub):
    images = torch.randn(2, 3, 32, 32)
    ours = load_clip(f"{TINY}-quickgelu:{hub.files['quickgelu']}")
    theirs = reference(hub, "quickgelu", f"{TINY}-quickgelu")
    torch.testing.assert_close(ours.encode_image(images), theirs.encode_image(images),
                               atol=1e-6, rtol=0)


def test_bare_path_activation_is_said_or_set(hub, capsys):
    """A bare path is rebuilt from OpenAI's layout, which stores the weights in fp16 (lossless
    for OpenAI's files, a rounding for an fp32 one): hence the looser tolerance here."""
    path = hub.files["quickgelu"]
    assumed = load_clip(path)
    assert "QuickGELU assumed for" in capsys.readouterr().out
    gelu = load_clip(path, quick_gelu=False)
    assert "GELU (from MODEL.BACKBONE.QUICK_GELU)" in capsys.readouterr().out
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        right = reference(hub, "quickgelu", f"{TINY}-quickgelu").encode_image(images)
        wrong = reference(hub, "quickgelu").encode_image(images)
        assert (assumed.encode_image(images) - right).abs().max() < 2e-3
        assert (gelu.encode_image(images) - wrong).abs().max() < 2e-3
        assert (right - wrong).abs().max() > 8e-3  # far above the fp16 rounding


def test_offline_without_the_file_names_it_and_where(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(CLIPLoadError) as info:
        load_clip(f"{TINY}:gelu")
    message = str(info.value)
    assert "\n" not in message and "SAR_OFFLINE is set" in message
    assert "open_clip_pytorch_model.bin" in message
    assert str(tmp_path / "empty" / "models--sar-test--tiny-gelu") in message


def test_file_of_another_model_is_one_line_naming_both(hub):
    other = tiny_clip_path(hub.base)  # OpenAI-layout tiny CLIP: embed_dim 32, not 48
    with pytest.raises(CLIPLoadError, match=f"{other} does not match open_clip's {TINY}: "):
        load_clip(f"{TINY}:{other}")


@pytest.mark.parametrize("name,family", [
    ("ViT-B-16-SigLIP:webli", "SigLIP"), ("coca_ViT-B-32:laion2b_s13b_b90k", "CoCa"),
    ("roberta-ViT-B-32:laion2b_s12b_b32k", "Hugging Face model (roberta-base)"),
    ("EVA02-B-16:merged2b_s8b_b131k", "CustomTextCLIP"),
])
def test_refused_family_is_one_line(name, family):
    with pytest.raises(CLIPLoadError) as info:
        load_clip(name)
    message = str(info.value)
    assert "\n" not in message and f"backbone {name} is refused" in message
    assert family in message and "CLIP's own text transformer" in message


def test_unknown_tag_lists_the_known_ones(hub):
    with pytest.raises(CLIPLoadError, match="no pretrained tag 'nope' .* gelu, quickgelu"):
        load_clip(f"{TINY}:nope")


def test_list_shows_tunable_models_and_what_is_on_disk(hub, capsys):
    assert models_main(["list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert hub.files["gelu"] in rows[f"{TINY}:gelu"]
    assert "QuickGELU" in rows[f"{TINY}:quickgelu"]
    assert "not on disk" in rows["ViT-B-16:laion2b_s34b_b88k"]
    assert not any("SigLIP" in name for name in rows)


def make_cfg(name, **inputs):
    from dassl.config import get_cfg_default

    cfg = extend_cfg(get_cfg_default())
    cfg.MODEL.BACKBONE.NAME = name
    for key, value in inputs.items():
        cfg.INPUT[key] = value
    return cfg


def test_input_comes_from_the_model_unless_the_config_chose(hub):
    stock = make_cfg(f"{TINY}:inception", PIXEL_MEAN=list(open_clip.OPENAI_DATASET_MEAN))
    assert fill_input(stock) == ["SIZE", "PIXEL_MEAN", "PIXEL_STD"]
    assert stock.INPUT.SIZE == (32, 32) and stock.INPUT.PIXEL_MEAN == list(INCEPTION)
    chosen = make_cfg(f"{TINY}:inception", PIXEL_MEAN=[0.4, 0.4, 0.4])
    assert fill_input(chosen) == ["SIZE", "PIXEL_STD"] and chosen.INPUT.PIXEL_MEAN == [0.4] * 3
    openai = make_cfg("ViT-B/16")
    assert fill_input(openai) == [] and openai.INPUT.PIXEL_MEAN == [0.485, 0.456, 0.406]


def open_clip_preprocess(tag):
    pretrained = open_clip.pretrained.get_pretrained_cfg(TINY, tag)
    config = open_clip.transform.PreprocessCfg(size=32, mean=pretrained["mean"],
                                               std=pretrained["std"])
    return open_clip.transform.image_transform_v2(config, is_train=False)


@pytest.mark.parametrize("mean,matches", [(None, True), ("[0.4, 0.4, 0.4]", False)])
def test_images_are_normalized_as_open_clip_does(hub, tmp_path, mean, matches):
    opts = [] if mean is None else ["INPUT.PIXEL_MEAN", mean]
    trainer = trainer_for(argv(hub, "CoOp", tmp_path, name=f"{TINY}:inception", opts=opts))
    item = trainer.dm.dataset.test[0]
    raw = Image.open(item.impath).convert("RGB")
    ours = trainer.dm.tfm_test(raw).unsqueeze(0)
    theirs = open_clip_preprocess("inception")(raw).unsqueeze(0)
    texts = [f"a photo of a {name}." for name in trainer.dm.dataset.classnames]
    expected = reference_logits(reference(hub, "inception"), theirs, texts)
    logits = trainer.model_inference(ours)
    assert torch.allclose(logits, expected, atol=1e-5 * 100, rtol=0) is matches


def towers_without_prompts(model, images, texts):
    """MaPLe and PromptSRC at init: the learner's text prompts and the image tower, with the
    deep prompts left out (those start random, by design, so the full output is not zero-shot)."""
    tokens = model.prompt_learner.class_tokens()
    text = model.text_encoder(model.prompt_learner(tokens), tokens.tokenized,
                              max_len=tokens.max_len)
    image = model.image_encoder(images)
    return model.logit_scale.exp() * normalize(image) @ normalize(text).t()


def zero_shot_logits(trainer, images):
    """(the trainer's logits at init, the prompts they stand for)."""
    names = trainer.dm.dataset.classnames
    if hasattr(trainer, "text_features"):  # ZeroshotCLIP
        texts = [t[0] for t in hand_crafted_texts(names, trainer.cfg.DATASET.NAME)]
        return trainer.model_inference(images), texts
    model = trainer.model
    texts = [f"{model.prompt_learner.prompt_prefix} {name}." for name in names]
    if model.prompted_image_tower:
        return towers_without_prompts(model, images, texts), texts
    if hasattr(model.prompt_learner, "meta_net"):  # CoCoOp: pi(x) = 0 leaves the init context
        torch.nn.init.zeros_(model.prompt_learner.meta_net.linear2.weight)
        torch.nn.init.zeros_(model.prompt_learner.meta_net.linear2.bias)
    return trainer.model_inference(images), texts


@pytest.mark.parametrize("trainer_name", list(CONFIGS))
@pytest.mark.parametrize("tag", ["gelu", "quickgelu"])
def test_logits_at_init_equal_open_clips_own(hub, tmp_path, trainer_name, tag):
    trainer = trainer_for(argv(hub, trainer_name, tmp_path, name=f"{TINY}:{tag}"))
    images = next(iter(trainer.test_loader))["img"][:6]
    with torch.no_grad():
        logits, texts = zero_shot_logits(trainer, images)
    own = reference(hub, tag, f"{TINY}-quickgelu" if tag == "quickgelu" else TINY)
    torch.testing.assert_close(logits, reference_logits(own, images, texts), atol=1e-5, rtol=0)
    if tag == "quickgelu":  # the factory's plain name builds GELU: that model is not this one
        wrong = reference_logits(reference(hub, tag), images, texts)
        assert (logits - wrong).abs().max() > 1e-3


@pytest.mark.parametrize("trainer_name", [name for name in CONFIGS if name != "ZeroshotCLIP"])
def test_trains_two_epochs_and_evaluates_new_classes(hub, tmp_path, trainer_name):
    out = tmp_path / "run"
    opts = ["OPTIM.MAX_EPOCH", "2", "DATASET.SUBSAMPLE_CLASSES", "base"]
    assert train.main(argv(hub, trainer_name, out, opts=opts)) == 0
    log = read_log(out)
    assert "Activation: GELU (from open_clip's pretrained config of SARTiny-ViT:gelu)" in log
    assert "Finish training" in log
    evaluation = tmp_path / "new"
    assert train.main(argv(hub, trainer_name, evaluation, flags=eval_on_new(out, epoch=2))) == 0
    assert "accuracy" in read_log(evaluation)


def test_zero_shot_evaluates_new_classes(hub, tmp_path):
    out = tmp_path / "zs"
    flags = ["--eval-only", "DATASET.SUBSAMPLE_CLASSES", "new"]
    assert train.main(argv(hub, "ZeroshotCLIP", out, flags=flags)) == 0
    log = read_log(out)
    assert "accuracy" in log and "Input: size (32, 32)" in log



def test_feature_cache_key_tells_tags_and_activations_apart(hub):
    from trainers.feature_cache import backbone_identity

    gelu, quick = backbone_identity(f"{TINY}:gelu"), backbone_identity(f"{TINY}:quickgelu")
    assert gelu["quick_gelu"] is False and quick["quick_gelu"] is True
    assert gelu["sha256"] != quick["sha256"]
    path = hub.files["gelu"]
    assert backbone_identity(path) != backbone_identity(path, quick_gelu=False)


@pytest.mark.parametrize("name,quick", [
    ("ViT-B-16:metaclip_400m", True), ("ViT-B-16:dfn2b", True), ("ViT-B-32:laion400m_e32", True),
    ("ViT-B-16:laion2b_s34b_b88k", False), ("ViT-B-32:datacomp_xl_s13b_b90k", False),
    ("ViT-B-16-quickgelu:metaclip_400m", True),
])
def test_open_clips_own_table_decides_the_activation(name, quick):
    """The real registry: QuickGELU weights under the plain name are built with QuickGELU."""
    from trainers.open_clip_backbones import activation, model_config, parse_name

    parsed = parse_name(name)
    assert activation(parsed, model_config(parsed), None)[0] is quick
    with pytest.raises(CLIPLoadError, match="contradicts"):
        activation(parsed, model_config(parsed), not quick)


def test_a_colon_in_an_existing_files_name_keeps_it_a_path(hub, tmp_path):
    from trainers.open_clip_backbones import parse_name

    path = tmp_path / "run:3.pt"
    path.write_bytes(b"")
    assert parse_name(str(path)) is None
    assert parse_name("ViT-B-16:laion2b_s34b_b88k").tag == "laion2b_s34b_b88k"
    assert parse_name("random:ViT-B/16") is None and parse_name("ViT-B/16") is None


def test_a_saved_folder_is_open_clips_local_dir(hub):
    from trainers.open_clip_backbones import backbone_input

    name = f"local-dir:{hub.folder}"
    wanted = backbone_input(name)
    assert wanted.mean == INCEPTION and wanted.size == (32, 32)
    assert wanted.source.endswith("open_clip_config.json")
    images = torch.randn(3, 3, 32, 32)
    theirs = open_clip.create_model(name).eval()  # open_clip's own reading of the folder
    with torch.no_grad():
        torch.testing.assert_close(load_clip(name).encode_image(images),
                                   theirs.encode_image(images), atol=1e-6, rtol=0)


def test_scripts_run_a_saved_open_clip_folder(hub, tmp_path):
    """The runner (train then test on new classes, then its table) on a local-dir: backbone,
    in fresh processes: MaPLe_SAR, so the deep prompts run on open_clip's own ViT."""
    import subprocess
    import sys

    from tests.helpers import ROOT

    env = {k: v for k, v in os.environ.items() if k not in ("EXP_TAG", "DATASETS", "SEEDS")}
    env.update(DATA=hub.root, OUTPUT=str(tmp_path / "output"), PYTHON=sys.executable,
               OMP_NUM_THREADS="1", TABLE_FORMAT="csv")
    opts = ["MODEL.BACKBONE.NAME", f"local-dir:{hub.folder}", "OPTIM.MAX_EPOCH", "1",
            "DATASET.NUM_SHOTS", "2", "DATALOADER.NUM_WORKERS", "0", "USE_CUDA", "False",
            "TRAINER.SAR.NOVEL_SOURCE", "random", "TRAINER.MAPLE.PROMPT_DEPTH", "2"]
    proc = subprocess.run(["bash", "scripts/run_experiments.sh", "maple_sar", "base2new",
                           "--datasets", "eurosat", "--seeds", "1", "--", *opts],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "MaPLe_SAR,Average" in proc.stdout  # the runner's table
    logs = sorted((tmp_path / "output").rglob("log.txt"))
    assert len(logs) == 2  # the training on base classes and the test on new ones
    for log in logs:
        text = log.read_text()
        assert f"Activation: GELU (from {hub.folder}/open_clip_config.json)" in text
        assert "Input: size (32, 32), mean [0.5, 0.5, 0.5]" in text


def test_fetch_finds_the_file_or_says_why_in_one_line(hub, capsys):
    assert models_main(["fetch", f"{TINY}:gelu"]) == 0
    assert capsys.readouterr().out.strip() == hub.files["gelu"]
    assert models_main(["fetch", "ViT-B-16-SigLIP:webli"]) == 2
    assert "backbone ViT-B-16-SigLIP:webli is refused" in capsys.readouterr().err
    assert models_main(["fetch", "ViT-B-16:laion2b_s34b_b88k"]) == 2  # SAR_OFFLINE is set
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "models--laion--CLIP-ViT-B-16-laion2B-s34B-b88K" in error
