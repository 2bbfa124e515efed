"""tools/similarity_report.py on real tiny runs: zero drift before training, positive after,
the numbers recomputed independently from the checkpoint, and the heatmap and tables."""

import csv
import os
from types import SimpleNamespace

import pytest
import torch

import train
from dassl.utils import load_checkpoint
from plotting import figures as plotting
from tests.helpers import eurosat_setup, png_size, reference_drift, train_argv
from tools import similarity_report
from trainers.backbone import load_clip
from trainers.prompts import ClassTokens, assemble_prompts, hand_crafted_texts
from trainers.text_encoder import TextEncoder, hand_crafted_features

TEMPLATE_CTX = "a centered satellite photo of"  # EuroSAT's hand-crafted template, as CTX_INIT
BANK = ["glacier", "harbor", "vineyard", "orchard", "wetland", "stadium", "tundra", "dune"]
NEW = ["Pasture Land", "Permanent Crop Land", "Residential Buildings", "River", "Sea or Lake"]
N_CLASSES = 5 + 5 + len(BANK)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An untrained CoOp whose context is the template, the same CoOp trained, its new test."""
    root, clip, base = eurosat_setup(tmp_path_factory, "similarity")
    bank = base / "bank.txt"
    bank.write_text("\n".join(BANK) + "\n")
    common = ["TRAINER.COOP.CTX_INIT", TEMPLATE_CTX, "TRAINER.SAR.NOVEL_SOURCE", str(bank),
              "DATASET.SUBSAMPLE_CLASSES", "base", "DATASET.NUM_SHOTS", "4",
              "DATALOADER.TRAIN_X.BATCH_SIZE", "4", "OPTIM.NAME", "adam",
              "OPTIM.WARMUP_EPOCH", "-1"]
    untrained = base / "train_base" / "untrained" / "seed1"
    trained = base / "train_base" / "trained" / "seed1"
    for out, opts in ((untrained, ["OPTIM.LR", "0.0"]),
                      (trained, ["OPTIM.LR", "0.003", "OPTIM.MAX_EPOCH", "3"])):
        argv = train_argv(root, clip, out, "CoOp", "CoOp/vit_b16_ctxv1", opts=common + opts)
        assert train.main(argv) == 0
    test_new = base / "test_new" / "trained" / "seed1"
    flags = ["--eval-only", "--model-dir", str(trained), "--load-epoch", "3"]
    argv = train_argv(root, clip, test_new, "CoOp", "CoOp/vit_b16_ctxv1", *flags,
                      opts=["DATASET.SUBSAMPLE_CLASSES", "new", "TRAINER.COOP.CTX_INIT",
                            TEMPLATE_CTX])
    assert train.main(argv) == 0
    return SimpleNamespace(root=root, clip=clip, base=base, untrained=str(untrained),
                           trained=str(trained))


def report_args(*extra):
    return similarity_report.build_parser().parse_args(["unused", *extra])


def by_group(result):
    return {row["group"]: row for row in result["rows"]}


def test_a_context_equal_to_the_template_has_no_drift(runs):
    result = similarity_report.analyse_run(runs.untrained, report_args())
    groups = by_group(result)
    assert [(g, groups[g]["classes"]) for g in groups] == [("base", 5), ("new", 5), ("novel", 8)]
    for row in groups.values():
        assert row["mean_abs_change"] < 1e-6 and abs(row["row_kl"]) < 1e-6, row
        assert row["spearman"] == pytest.approx(1.0), row


def independent_new_group(runs):
    """G and H of the new classes from the trained checkpoint, without the tool's code path."""
    encoder = TextEncoder(load_clip(runs.clip))
    path = os.path.join(runs.trained, "prompt_learner", "model.pth.tar-3")
    ctx = load_checkpoint(path)["state_dict"]["ctx"]
    tokens = ClassTokens.build(encoder, NEW, TEMPLATE_CTX, ctx.shape[0])
    with torch.no_grad():
        G = encoder(assemble_prompts(ctx, tokens), tokens.tokenized).float()
    H = hand_crafted_features(encoder, hand_crafted_texts(NEW, "EuroSAT"))
    return G / G.norm(dim=-1, keepdim=True), H


def test_training_drifts_and_the_numbers_match_an_independent_computation(runs):
    result = similarity_report.analyse_run(runs.trained, report_args())
    groups = by_group(result)
    for row in groups.values():
        assert row["mean_abs_change"] > 1e-3 and row["row_kl"] > 0 and row["spearman"] < 1, row
    change, kl, rho = reference_drift(*independent_new_group(runs), tau=0.01)
    assert groups["new"]["mean_abs_change"] == pytest.approx(change, rel=1e-4)
    assert groups["new"]["row_kl"] == pytest.approx(kl, rel=1e-3)
    assert groups["new"]["spearman"] == pytest.approx(rho, abs=1e-6)
    assert groups["new"]["base_acc"] is not None and groups["new"]["new_acc"] is not None


def test_heatmap_and_tables_for_two_runs(runs, tmp_path):
    out = tmp_path / "report" / "similarity.png"
    assert similarity_report.main([runs.untrained, runs.trained, "-o", str(out)]) == 0
    width, height = plotting.heatmap_figure_inches(2, N_CLASSES)
    assert png_size(out) == (round(width * plotting.DPI), round(height * plotting.DPI))
    with open(tmp_path / "report" / "similarity.csv") as f:
        records = list(csv.DictReader(f))
    assert [(r["run"], r["group"]) for r in records] == [
        (f"{run}/seed1", group) for run in ("untrained", "trained")
        for group in ("base", "new", "novel")]
    assert float(records[0]["mean_abs_change"]) < 1e-6 < float(records[3]["mean_abs_change"])
    assert records[4]["new_acc"] and not records[1]["new_acc"]  # only trained has test_new
    markdown = (tmp_path / "report" / "similarity.md").read_text()
    assert markdown.count("\n") == 2 + len(records) and "| spearman" in markdown


def test_many_classes_are_a_stated_seeded_subsample(runs, tmp_path):
    result = similarity_report.analyse_run(runs.trained, report_args("--max-classes", "7"))
    again = similarity_report.analyse_run(runs.trained, report_args("--max-classes", "7"))
    assert len(result["names"]) == 7 and result["names"] == again["names"]
    assert result["S_g"].shape == (7, 7) and result["n_classes"] == N_CLASSES
    out = tmp_path / "sub.png"
    similarity_report.draw_heatmaps([result], str(out), seed=0)
    width, height = plotting.heatmap_figure_inches(1, 7)
    assert png_size(out) == (round(width * plotting.DPI), round(height * plotting.DPI))


def test_a_bad_logged_value_is_one_line_naming_file_and_key(runs, tmp_path, capsys):
    run = tmp_path / "bad"
    run.mkdir()
    (run / "log.txt").write_text("************\n** Config **\n************\n"
                                 "OPTIM:\n  MAX_EPOCH: many\n")
    assert similarity_report.main([str(run), "-o", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "log.txt" in err and "OPTIM.MAX_EPOCH" in err and "many" in err
    assert similarity_report.main([str(tmp_path / "none"), "-o", str(tmp_path / "x.png")]) == 1
    assert "no log.txt" in capsys.readouterr().err


@pytest.mark.parametrize("trainer,config", [
    ("CoCoOp", "CoCoOp/vit_b16_c4_ep10_batch1_ctxv1"),  # per-image prompts
    ("MaPLe_SAR", "MaPLe_SAR/vit_b16_c2_ep5_batch4_2ctx"),  # deep prompts in the text tower
])
def test_other_text_paths(runs, trainer, config, monkeypatch):
    conditioned = []
    real = similarity_report.conditioning_images
    monkeypatch.setattr(similarity_report, "conditioning_images",
                        lambda *a: conditioned.append(real(*a)) or conditioned[-1])
    out = runs.base / f"other_{trainer}"
    opts = ["DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.MAPLE.PROMPT_DEPTH", "2",
            "TEST.NO_TEST", "True"]
    assert train.main(train_argv(runs.root, runs.clip, out, trainer, config, opts=opts)) == 0
    result = similarity_report.analyse_run(str(out), report_args("--images", "3"))
    groups = by_group(result)
    assert list(groups) == ["base", "new", "novel"] and groups["novel"]["classes"] > 2
    for row in groups.values():
        assert row["mean_abs_change"] > 0 and row["row_kl"] >= 0 and -1 <= row["spearman"] <= 1
    assert result["S_g"].shape == result["S_h"].shape == (result["n_classes"],) * 2
    # only CoCoOp's prompts take the image: its features come from 3 test images
    assert [tuple(f.shape[:1]) for f in conditioned] == ([(3,)] if trainer == "CoCoOp" else [])


def test_difference_panels_share_one_symmetric_scale_with_a_floor():
    import numpy as np

    bent, kept = np.full((3, 3), 0.4), np.full((3, 3), 1e-4)
    low, high = plotting.difference_limits([bent, kept])
    assert (low, high) == (-0.4, 0.4)  # both runs on CoOp's scale, so SAR's reads as pale
    assert plotting.difference_limits([kept]) == (-plotting.DIFF_FLOOR, plotting.DIFF_FLOOR)


def test_class_names_are_thinned_to_stay_readable_and_groups_named(monkeypatch):
    import numpy as np

    assert plotting.label_step(10) == 1 and plotting.label_step(60) >= 3
    kept = {}
    monkeypatch.setattr(plotting, "save", lambda fig, path: kept.setdefault("fig", fig) and (1, 1))
    S = np.eye(60)
    names = [f"class {i}" for i in range(60)]
    plotting.heatmap_grid([("CoOp", S, S)], names, [("base", 20), ("new", 20), ("novel", 20)],
                          "t", "x.png")
    ax = kept["fig"].axes[0]
    shown = [t.get_text() for t in ax.get_xticklabels()]
    assert 0 < len(shown) <= 60 / plotting.label_step(60) + 1
    assert all(t.get_fontsize() >= 8 for t in ax.get_xticklabels())
    group_labels = [t.get_text() for child in ax.child_axes for t in child.get_xticklabels()]
    assert group_labels == ["base", "new", "novel"]
    assert "(base 20, new 20, novel 20)" in kept["fig"]._suptitle.get_text()
