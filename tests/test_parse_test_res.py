"""parse_test_res.py on hand-written logs: the upstream modes and the base-to-new table."""

import csv
import io
import math
import os

import pytest

import parse_test_res as ptr

TRAIN_LOG = """\
Loading trainer: CoOp
epoch [1/2] batch [1/1] time 0.1 loss 2.0 lr 1.0e-05
=> result
* total: 10
* correct: 1
* accuracy: 11.1%
epoch [2/2] batch [1/1] time 0.1 loss 1.0 lr 2.0e-03
{end}
Evaluate on the *test* set
=> result
* total: 100
* correct: {correct}
* accuracy: {acc}%
* error: {err}%
* macro_f1: {f1}%
Elapsed: 0:00:01
"""

TEST_LOG = """\
Loading weights to prompt_learner from "model.pth.tar-2" (epoch = 2)
Evaluate on the *test* set
=> result
* total: 100
* accuracy: {acc}%
* error: {err}%
* macro_f1: {f1}%
"""


def write_log(run_dir, acc, kind="train", end="Finish training", name="log.txt"):
    os.makedirs(run_dir, exist_ok=True)
    template = TRAIN_LOG if kind == "train" else TEST_LOG
    text = template.format(
        end=end, acc=acc, correct=int(acc), err=round(100 - acc, 2), f1=round(acc - 5, 2)
    )
    with open(os.path.join(run_dir, name), "w") as f:
        f.write(text)


def run(argv):
    out = io.StringIO()
    code = ptr.main([str(a) for a in argv], out=out)
    return code, out.getvalue()


# --- upstream modes ---------------------------------------------------------------------------


def test_both_end_line_wordings_and_values_before_the_end_are_ignored(tmp_path):
    write_log(tmp_path / "seed1", 70.0, end="Finish training")
    write_log(tmp_path / "seed2", 72.0, end="Finished training")
    code, out = run([tmp_path])
    assert code == 0
    assert "seed1: accuracy = 70.00%" in out
    assert "seed2: accuracy = 72.00%" in out
    assert "11.1" not in out  # the mid-training evaluation is not the result
    assert "* accuracy: 71.00% +- 1.00% (std)" in out


def test_std_is_population_std_and_ci95(tmp_path):
    for seed, acc in ((1, 70.0), (2, 72.0), (3, 74.0)):
        write_log(tmp_path / f"seed{seed}", acc)
    std = math.sqrt(8 / 3)  # numpy's default ddof=0
    _, out = run([tmp_path])
    assert f"* accuracy: 72.00% +- {std:.2f}% (std)" in out
    _, out = run([tmp_path, "--ci95"])
    assert f"* accuracy: 72.00% +- {1.96 * std / math.sqrt(3):.2f}% (95% CI)" in out
    assert ptr.mean_spread([70.0, 72.0, 74.0], ci95=True) == pytest.approx(
        (72.0, 1.96 * std / math.sqrt(3))
    )


def test_missing_seed_is_reported_not_averaged(tmp_path):
    write_log(tmp_path / "seed1", 70.0)
    write_log(tmp_path / "seed2", 60.0, end="(crashed before the end)")
    write_log(tmp_path / "seed10", 74.0)
    code, out = run([tmp_path])
    assert code == 0
    assert "seed2: no result" in out and "after 'Finish training'" in out
    assert "(2 of 3 runs; no result: seed2)" in out
    assert "* accuracy: 72.00% +- 2.00%" in out
    assert out.index("seed2:") < out.index("seed10:")  # natural order


def test_test_log_takes_the_last_value_anywhere(tmp_path):
    write_log(tmp_path / "seed1", 64.0, kind="test")
    write_log(tmp_path / "seed2", 66.0, kind="test")
    code, _ = run([tmp_path])
    assert code == 1  # no end line: nothing counts without --test-log
    code, out = run([tmp_path, "--test-log"])
    assert code == 0 and "* accuracy: 65.00% +- 1.00%" in out


def test_keyword(tmp_path):
    write_log(tmp_path / "seed1", 70.0)
    _, out = run([tmp_path, "--keyword", "macro_f1"])
    assert "* macro_f1: 65.00%" in out


def test_newest_log_file_wins(tmp_path):
    write_log(tmp_path / "seed1", 50.0)
    write_log(tmp_path / "seed1", 55.0, name="log.txt-2024-01-01-10-00-00")
    write_log(tmp_path / "seed1", 60.0, name="log.txt-2024-03-01-09-00-00")
    assert ptr.newest_log(str(tmp_path / "seed1")).endswith("log.txt-2024-03-01-09-00-00")
    _, out = run([tmp_path])
    assert "seed1: accuracy = 60.00%" in out


def test_nothing_found_names_the_directory_and_the_line(tmp_path, capsys):
    (tmp_path / "seed1").mkdir()
    code, _ = run([tmp_path])
    err = capsys.readouterr().err
    assert code == 1
    assert f"Nothing found in {tmp_path}" in err
    assert "'* accuracy: <number>%' after 'Finish training' (or 'Finished training')" in err


def test_multi_exp(tmp_path):
    for ds, base in (("dtd", 50.0), ("eurosat", 40.0)):
        for seed in (1, 2):
            write_log(tmp_path / ds / f"seed{seed}", base + seed, kind="test")
    code, out = run([tmp_path, "--multi-exp", "--test-log"])
    assert code == 0
    assert f"Summary of {tmp_path / 'dtd'} (2 runs)" in out
    assert "* accuracy: 51.50% +- 0.50%" in out and "* accuracy: 41.50% +- 0.50%" in out
    code, out = run([tmp_path, "--multi-exp", "--test-log", "--datasets", "eurosat,ucf101"])
    assert "dtd" not in out.split("| experiment")[1]
    assert "| ucf101" in out and "no folder" in out


# --- base-to-new table ------------------------------------------------------------------------


def b2n_dir(root, side, dataset, trainer, cfg, seed):
    sub = "train_base" if side == "base" else "test_new"
    return root / sub / dataset / "shots_16" / trainer / cfg / f"seed{seed}"


def write_b2n(root, trainer, dataset, base, new, cfg="vit_b16_ctxv1", end="Finish training"):
    """base / new: {seed: accuracy}."""
    for seed, acc in base.items():
        write_log(b2n_dir(root, "base", dataset, trainer, cfg, seed), acc, end=end)
    for seed, acc in new.items():
        write_log(b2n_dir(root, "new", dataset, trainer, cfg, seed), acc, kind="test")


def hm(b, n):
    return 2 * b * n / (b + n)


def read_csv(text):
    return {(r["method"], r["dataset"]): r for r in csv.DictReader(io.StringIO(text))}


def test_table_numbers_hm_and_average_row(tmp_path):
    write_b2n(tmp_path, "CoOp", "eurosat", {1: 90.0, 2: 92.0}, {1: 50.0, 2: 54.0})
    write_b2n(tmp_path, "CoOp", "dtd", {1: 80.0, 2: 80.0}, {1: 40.0, 2: 42.0})
    write_b2n(tmp_path, "CoOp", "imagenet", {1: 76.0, 2: 76.0}, {1: 66.0, 2: 68.0},
              cfg="vit_b16_ep50_ctxv1")  # fmt: skip
    code, out = run([tmp_path, "--base2new", "--format", "csv"])
    assert code == 0
    rows = read_csv(out)
    eurosat = rows["CoOp", "EuroSAT"]
    assert float(eurosat["base"]) == pytest.approx(91.0)
    assert float(eurosat["base_std"]) == pytest.approx(1.0)
    assert float(eurosat["new"]) == pytest.approx(52.0)
    assert float(eurosat["hm"]) == pytest.approx(hm(91.0, 52.0), abs=1e-4)
    assert eurosat["complete"] == "True"
    assert rows["CoOp", "ImageNet"]["config"] == "CoOp/vit_b16_ep50_ctxv1"  # one column
    avg = rows["CoOp", "Average"]
    base_avg, new_avg = (91.0 + 80.0 + 76.0) / 3, (52.0 + 41.0 + 67.0) / 3
    assert float(avg["base"]) == pytest.approx(base_avg, abs=1e-4)
    assert float(avg["new"]) == pytest.approx(new_avg, abs=1e-4)
    # The papers' Average HM: HM of the mean base and mean new, not the mean of the HMs.
    assert float(avg["hm"]) == pytest.approx(hm(base_avg, new_avg), abs=1e-4)
    mean_of_hms = (hm(91, 52) + hm(80, 41) + hm(76, 67)) / 3
    assert abs(float(avg["hm"]) - mean_of_hms) > 0.01
    assert avg["complete"] == "True"

    code, out = run([tmp_path, "--base2new"])
    lines = out.splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert [line.split("|")[1].strip() for line in table[2:]] == [
        "ImageNet", "DTD", "EuroSAT", "Average"
    ]  # fmt: skip
    assert "| 91.00 ± 1.00 " in out and f"{hm(91, 52):.2f}" in out
    assert "*" not in "".join(table)


def test_missing_seed_is_marked_and_the_average_flagged(tmp_path):
    write_b2n(tmp_path, "CoOp", "eurosat", {1: 90.0, 2: 92.0}, {1: 50.0})  # new seed2 missing
    write_b2n(tmp_path, "CoOp", "dtd", {1: 80.0, 2: 80.0}, {1: 40.0, 2: 42.0})
    rows = read_csv(run([tmp_path, "--base2new", "--format", "csv"])[1])
    eurosat = rows["CoOp", "EuroSAT"]
    assert eurosat["complete"] == "False" and "new missing seed2" in eurosat["note"]
    assert float(eurosat["new"]) == pytest.approx(50.0)  # mean of the seeds present
    assert eurosat["new_seeds"] == "1"
    assert rows["CoOp", "Average"]["complete"] == "False"
    _, out = run([tmp_path, "--base2new"])
    assert "| 50.00*" in out
    assert "CoOp / EuroSAT: new is the mean of 1 of 2 seeds; missing seed2" in out
    assert "CoOp / Average: incomplete: includes datasets with missing seeds (EuroSAT)" in out
    # --seeds: a seed nobody ran is missing everywhere.
    rows = read_csv(run([tmp_path, "--base2new", "--format", "csv", "--seeds", "1", "2", "3"])[1])
    assert "base missing seed3" in rows["CoOp", "DTD"]["note"]


def test_missing_side_and_missing_dataset(tmp_path):
    write_b2n(tmp_path, "CoOp", "eurosat", {1: 90.0}, {1: 50.0})
    write_b2n(tmp_path, "CoOp", "dtd", {1: 80.0}, {})  # never tested on new
    write_b2n(tmp_path, "CoOp_SAR", "eurosat", {1: 91.0}, {1: 55.0})  # no dtd at all
    write_b2n(tmp_path, "CoOp_SAR", "dtd", {}, {})
    rows = read_csv(run([tmp_path, "--base2new", "--format", "csv"])[1])
    dtd = rows["CoOp", "DTD"]
    assert dtd["new"] == "" and dtd["hm"] == "" and dtd["complete"] == "False"
    avg = rows["CoOp", "Average"]
    assert float(avg["base"]) == pytest.approx(90.0)  # DTD left out of the Average...
    assert avg["complete"] == "False" and "leaves out DTD" in avg["note"]  # ...and said so
    assert rows["CoOp_SAR", "DTD"]["note"] == "no runs"
    _, out = run([tmp_path, "--base2new"])
    assert "CoOp / DTD: no new result (all seeds missing)" in out
    assert "CoOp_SAR / DTD: no runs" in out
    assert "—" in out


def test_methods_side_by_side_selection_and_labels(tmp_path):
    for trainer, shift in (("CoOp", 0.0), ("CoOp_SAR", 2.0), ("KgCoOp", 1.0)):
        cfg = "vit_b16_ep100_ctxv1" if trainer == "KgCoOp" else "vit_b16_ctxv1"
        write_b2n(tmp_path, trainer, "eurosat", {1: 90.0}, {1: 50.0 + shift}, cfg=cfg)
    _, out = run([tmp_path, "--base2new"])
    header = next(line for line in out.splitlines() if line.startswith("| Dataset"))
    assert header.index("CoOp Base") < header.index("CoOp_SAR Base") < header.index("KgCoOp")
    _, out = run([tmp_path, "--base2new", "--methods", "CoOp_SAR,Baseline=CoOp/vit_b16_*"])
    header = next(line for line in out.splitlines() if line.startswith("| Dataset"))
    assert "CoOp_SAR Base" in header and "Baseline HM" in header and "KgCoOp" not in header
    assert run([tmp_path, "--base2new", "--methods", "MaPLe"])[0] == 2


def test_unknown_method_or_dataset_is_refused_with_what_exists(tmp_path, capsys):
    write_b2n(tmp_path, "CoOp", "eurosat", {1: 90.0}, {1: 50.0})
    write_b2n(tmp_path, "CoOp", "dtd", {1: 80.0}, {1: 40.0})
    code, _ = run([tmp_path, "--base2new", "--methods", "CoOp,Nope"])
    err = capsys.readouterr().err
    assert code == 2 and "--methods 'Nope' selects none" in err and "CoOp/vit_b16_ctxv1" in err
    code, _ = run([tmp_path, "--base2new", "--datasets", "eurosta"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown dataset 'eurosta'" in err and "dtd, eurosat" in err
    # The folder name, the table's label and the registered name all pick the same row.
    for name in ("eurosat", "EuroSAT", "eUrOsAt"):
        rows = read_csv(run([tmp_path, "--base2new", "--format", "csv", "--datasets", name])[1])
        assert float(rows["CoOp", "EuroSAT"]["base"]) == pytest.approx(90.0)
        assert ("CoOp", "DTD") not in rows
    rows = read_csv(run([tmp_path, "--base2new", "--format", "csv",
                         "--datasets", "DescribableTextures"])[1])  # fmt: skip
    assert float(rows["CoOp", "DTD"]["new"]) == pytest.approx(40.0)


def test_table_flags_without_the_table_are_refused(tmp_path, capsys):
    write_log(tmp_path / "seed1", 70.0)
    for extra in (["--format", "csv"], ["--methods", "CoOp"], ["--seeds", "1"]):
        code, out = run([tmp_path, *extra])
        assert code == 2 and out == ""
        assert f"{extra[0]} only apply to the table: add --base2new" in capsys.readouterr().err


def test_only_seed_folders_count_and_others_are_listed(tmp_path):
    write_log(tmp_path / "seed1", 10.0)
    write_log(tmp_path / "seed2", 25.0)
    write_log(tmp_path / "notes", 99.0)  # a log in a folder that is no seed
    code, out = run([tmp_path])
    assert code == 0 and "* accuracy: 17.50%" in out and "(2 runs)" in out
    assert "skipped (not seed<N> folders): notes" in out and "notes:" not in out
    write_b2n(tmp_path / "b2n", "CoOp", "dtd", {1: 80.0}, {1: 40.0})
    write_log(b2n_dir(tmp_path / "b2n", "new", "dtd", "CoOp", "vit_b16_ctxv1", "x"), 1e9, "test")
    rows = read_csv(run([tmp_path / "b2n", "--base2new", "--format", "csv"])[1])
    assert float(rows["CoOp", "DTD"]["new"]) == pytest.approx(40.0)


def test_a_non_finite_value_is_refused_naming_the_file(tmp_path, capsys):
    write_log(tmp_path / "seed1", 70.0)
    write_log(tmp_path / "seed2", 70.0)
    log = tmp_path / "seed2" / "log.txt"
    log.write_text(log.read_text().replace("* accuracy: 70.0%", "* accuracy: 1e999%"))
    code, _ = run([tmp_path])
    err = capsys.readouterr().err
    assert code == 2 and str(tmp_path / "seed2" / "log.txt") in err
    assert "'* accuracy: 1e999' is not a finite number" in err


def test_two_configs_of_one_trainer_get_their_own_columns(tmp_path, capsys):
    write_b2n(tmp_path, "CoOp_SAR", "eurosat", {1: 90.0}, {1: 50.0})
    write_b2n(tmp_path, "CoOp_SAR", "eurosat", {1: 91.0}, {1: 52.0}, cfg="vit_b16_ctxv1_w2")
    _, out = run([tmp_path, "--base2new"])
    assert "CoOp_SAR/vit_b16_ctxv1 Base" in out and "CoOp_SAR/vit_b16_ctxv1_w2 Base" in out
    assert run([tmp_path, "--base2new", "--methods", "CoOp_SAR"])[0] == 2
    assert "matches several runs for eurosat" in capsys.readouterr().err


def test_zero_shot_base_logs_and_unfinished_training(tmp_path):
    # Zero-shot CLIP's base "training" run is an evaluation: its log has no end line.
    for seed in (1, 2):
        write_log(b2n_dir(tmp_path, "base", "dtd", "ZeroshotCLIP", "vit_b16", seed), 60.0,
                  kind="test")  # fmt: skip
        write_log(b2n_dir(tmp_path, "new", "dtd", "ZeroshotCLIP", "vit_b16", seed), 55.0,
                  kind="test")  # fmt: skip
    # A training that died before its end line has no base result, even with a mid-run value.
    write_b2n(tmp_path, "CoOp", "dtd", {1: 80.0, 2: 81.0}, {1: 40.0, 2: 41.0})
    write_log(b2n_dir(tmp_path, "base", "dtd", "CoOp", "vit_b16_ctxv1", 2), 81.0, end="...")
    rows = read_csv(run([tmp_path, "--base2new", "--format", "csv"])[1])
    assert float(rows["ZeroshotCLIP", "DTD"]["base"]) == pytest.approx(60.0)
    coop = rows["CoOp", "DTD"]
    assert coop["base_seeds"] == "1" and "unfinished" in coop["note"]


def test_latex_and_ci95(tmp_path):
    write_b2n(tmp_path, "CoOp_SAR", "eurosat", {1: 90.0, 2: 92.0, 3: 94.0}, {1: 50.0, 2: 50.0})
    _, out = run([tmp_path, "--base2new", "--format", "latex", "--ci95"])
    ci = 1.96 * math.sqrt(8 / 3) / math.sqrt(3)
    assert r"\begin{tabular}" in out and r"\toprule" in out
    assert rf"92.00 $\pm$ {ci:.2f}" in out
    assert r"CoOp\_SAR Base" in out
    assert "% * CoOp_SAR / EuroSAT: new is the mean of 2 of 3 seeds; missing seed3" in out
    rows = read_csv(run([tmp_path, "--base2new", "--format", "csv", "--ci95"])[1])
    assert float(rows["CoOp_SAR", "EuroSAT"]["base_95% CI"]) == pytest.approx(ci, abs=1e-4)


def test_table_nothing_found(tmp_path, capsys):
    (tmp_path / "base2new" / "train_base").mkdir(parents=True)
    code, _ = run([tmp_path, "--base2new"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"Nothing found under {tmp_path}" in err
    assert "train_base/<dataset>/shots_16/<TRAINER>/<CFG>/seed<N>/log.txt" in err
    assert "after 'Finish training' (or 'Finished training')" in err
    assert f"did you mean {tmp_path / 'base2new'}?" in err


def test_transpose_gives_a_row_per_method(tmp_path):
    for tag, shift in (("w0.5", 0.0), ("w2.0", 4.0)):
        write_b2n(tmp_path, "CoOp_SAR", "eurosat", {1: 90.0 + shift}, {1: 50.0 + shift},
                  cfg=f"vit_b16_ctxv1_{tag}")  # fmt: skip
    methods = "W 0.5=CoOp_SAR/*_w0.5,W 2.0=CoOp_SAR/*_w2.0"
    code, out = run([tmp_path, "--base2new", "--methods", methods, "--transpose"])
    assert code == 0
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert [c.strip() for c in table[0].split("|")[1:-1]] == [
        "Method", "EuroSAT Base", "EuroSAT New", "EuroSAT HM"]  # one dataset: no Average
    assert table[2].split("|")[1].strip() == "W 0.5" and "90.00" in table[2]
    assert table[3].split("|")[1].strip() == "W 2.0" and f"{hm(94, 54):.2f}" in table[3]


# --- one seed, pipes, help --------------------------------------------------------------------


def test_one_seed_is_not_a_spread(tmp_path):
    write_log(tmp_path / "exp" / "seed1", 70.0)
    code, out = run([tmp_path / "exp"])
    assert code == 0 and "* accuracy: 70.00% (one run: no std)" in out and "+-" not in out
    code, out = run([tmp_path, "--multi-exp"])
    row = next(line for line in out.splitlines() if line.startswith("| exp "))
    assert [c.strip() for c in row.split("|")[1:-1]][:4] == ["exp", "1", "70.00", ""]
    write_b2n(tmp_path / "b2n", "CoOp", "eurosat", {1: 90.0}, {1: 50.0})
    code, out = run([tmp_path / "b2n", "--base2new", "--format", "csv"])
    record = read_csv(out)[("CoOp", "EuroSAT")]
    assert record["base_std"] == "" and record["new_std"] == ""  # no zero-width error bar


def test_a_reader_that_leaves_early_ends_it_quietly(tmp_path):
    import subprocess
    import sys

    for seed in range(3000):  # more output than a pipe holds, so the write meets the closed end
        write_log(tmp_path / "exp" / f"seed{seed}", 50.0, kind="test")
    script = os.path.join(os.path.dirname(ptr.__file__), "parse_test_res.py")
    done = subprocess.run(f"{sys.executable} {script} {tmp_path / 'exp'} --test-log | head -1",
                          shell=True, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=""))
    assert done.stdout.startswith("Parsing") and done.stderr == ""


def test_help_says_methods_take_spaces_or_commas():
    text = " ".join(ptr.build_parser().format_help().split())
    assert "separated by spaces or commas" in text


# --- runs of different methods are never pooled -------------------------------------------------


def write_identified_log(run_dir, acc, trainer, config="vit_b16_ctxv1", dataset="eurosat",
                         kind="train", clone="/home/a/sar"):
    """A log that names what ran, in train.py's (and upstream's) argument block."""
    write_log(run_dir, acc, kind=kind)
    header = (
        "***************\n** Arguments **\n***************\n"
        f"config_file: {clone}/configs/trainers/{trainer}/{config}.yaml\n"
        f"dataset_config_file: {clone}/configs/datasets/{dataset}.yaml\n"
        f"trainer: {trainer}\n************\n** Config **\n************\nTRAINER:\n  NAME: x\n"
    )
    path = os.path.join(run_dir, "log.txt")
    with open(path) as f:
        body = f.read()
    with open(path, "w") as f:
        f.write(header + body)


@pytest.mark.parametrize("what,seed2", [
    ("trainer", {"trainer": "CoCoOp"}),
    ("config", {"config": "vit_b16_ep50_ctxv1"}),
    ("dataset", {"dataset": "dtd"}),
])
def test_runs_of_different_methods_are_not_pooled(tmp_path, capsys, what, seed2):
    write_identified_log(tmp_path / "seed1", 20.0, "CoOp")
    write_identified_log(tmp_path / "seed2", 35.0, **{"trainer": "CoOp", **seed2})
    code, out = run([tmp_path])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "27.50" not in out, out
    assert len(err) == 1 and err[0].startswith(f"error: will not pool runs of different {what}s")
    for seed in ("seed1", "seed2"):
        assert str(tmp_path / seed / "log.txt") in err[0]


def test_the_same_method_from_another_clone_still_pools(tmp_path):
    write_identified_log(tmp_path / "seed1", 20.0, "CoOp")
    write_identified_log(tmp_path / "seed2", 35.0, "CoOp", clone="/scratch/b/sar")
    code, out = run([tmp_path])
    assert code == 0 and "* accuracy: 27.50% +- 7.50% (std)" in out


def test_multi_exp_and_base2new_refuse_mixed_methods_too(tmp_path, capsys):
    for seed, trainer in ((1, "CoOp"), (2, "CoCoOp")):
        write_identified_log(tmp_path / "xd" / "dtd" / f"seed{seed}", 40.0, trainer, kind="test")
    code, _ = run([tmp_path / "xd", "--multi-exp", "--test-log"])
    assert code == 2 and "different trainers" in capsys.readouterr().err
    root = tmp_path / "b2n"
    for seed in (1, 2):
        write_identified_log(b2n_dir(root, "base", "eurosat", "CoOp", "vit_b16_ctxv1", seed), 80.0,
                             "CoOp")
        trainer = "CoOp" if seed == 1 else "CoCoOp"  # seed 2's test came from another method
        write_identified_log(b2n_dir(root, "new", "eurosat", "CoOp", "vit_b16_ctxv1", seed), 60.0,
                             trainer, kind="test")
    code, _ = run([root, "--base2new"])
    err = capsys.readouterr().err
    assert code == 2 and "different trainers" in err
    assert str(b2n_dir(root, "new", "eurosat", "CoOp", "vit_b16_ctxv1", 2)) in err
