"""Loader of SAR novel-class banks (trainers/novel_bank.py) and the bank generator tool."""

import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from trainers.novel_bank import (
    BANK_DIR,
    bank_path,
    clip_vocab_words,
    load_novel_bank,
    normalize_classname,
)

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "generate_novel_classes.py"
PETS = [
    line.strip()
    for line in (ROOT / "tests" / "data" / "dataset_classnames" / "OxfordPets.txt").read_text()
    .splitlines()
    if line.strip()
]


def pets_bank():
    return json.loads((BANK_DIR / "OxfordPets.json").read_text(encoding="utf-8"))["classes"]


# ---------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Maine_Coon", "maine coon"),
        ("  Sea   or-Lake ", "sea or lake"),
        ("Colt's Foot", "colts foot"),
        ("Crème Brûlée", "creme brulee"),
        ("F/A-18", "fa 18"),
        ("polka-dotted", "polka dotted"),
        ("", ""),
    ],
)
def test_normalize_classname(raw, expected):
    assert normalize_classname(raw) == expected


# ---------------------------------------------------------------- "llm" source


def test_llm_bank_loads_shipped_file_and_logs():
    logs = []
    bank = load_novel_bank("llm", "OxfordPets", PETS, logger=logs.append)
    assert bank == pets_bank()
    assert logs[0] == "SAR novel bank: dropped 0 entries that match class names of OxfordPets"
    assert "OxfordPets.json" in logs[-1] and str(len(bank)) in logs[-1]


@pytest.mark.parametrize("variant", ["ImageNetV2", "ImageNetSketch", "ImageNetA", "ImageNetR"])
def test_imagenet_variants_use_imagenet_bank(variant):
    assert bank_path(variant) == BANK_DIR / "ImageNet.json"
    expected = load_novel_bank("llm", "ImageNet", [], logger=lambda m: None)
    assert load_novel_bank("llm", variant, [], logger=lambda m: None) == expected


def test_unknown_dataset_names_expected_file():
    with pytest.raises(FileNotFoundError) as err:
        load_novel_bank("llm", "NoSuchDataset", ["a"], logger=lambda m: None)
    message = str(err.value)
    assert str(BANK_DIR / "NoSuchDataset.json") in message
    assert "\n" not in message


def test_llm_bank_guard_drops_classes_the_caller_passes():
    """The shipped file is clean, but the guard still runs on it (e.g. a renamed class)."""
    first, second = pets_bank()[:2]
    logs = []
    bank = load_novel_bank("llm", "OxfordPets", PETS + [first.upper(), second], logger=logs.append)
    assert first not in bank and second not in bank
    assert len(bank) == len(pets_bank()) - 2
    assert "dropped 2 entries" in logs[0]


# ---------------------------------------------------------------- user files


def test_json_object_path(tmp_path):
    path = tmp_path / "bank.json"
    path.write_text(json.dumps({"classes": ["red fox", "snow goose"], "provenance": {}}))
    assert load_novel_bank(str(path), "X", ["cat"], logger=lambda m: None) == [
        "red fox",
        "snow goose",
    ]


def test_json_list_path(tmp_path):
    path = tmp_path / "bank.json"
    path.write_text(json.dumps(["red fox", "snow goose"]))
    assert load_novel_bank(path, "X", [], logger=lambda m: None) == ["red fox", "snow goose"]


def test_txt_path_ignores_blanks_and_comments(tmp_path):
    path = tmp_path / "bank.txt"
    path.write_text("# my bank\nred fox\n\n   \n  snow goose  \n# end\n")
    assert load_novel_bank(str(path), "X", [], logger=lambda m: None) == ["red fox", "snow goose"]


def test_leak_guard_drops_and_dedupes_and_logs(tmp_path):
    path = tmp_path / "bank.txt"
    path.write_text("Persian\nmaine-coon\nScottish Fold\nscottish_fold\nBEAGLE\nDevon Rex\n")
    logs = []
    bank = load_novel_bank(str(path), "OxfordPets", PETS, logger=logs.append)
    assert bank == ["Scottish Fold", "Devon Rex"]
    assert logs[0].startswith(
        "SAR novel bank: dropped 3 entries that match class names of OxfordPets"
    )
    assert "Persian" in logs[0] and "maine-coon" in logs[0] and "BEAGLE" in logs[0]


def test_bank_empty_after_guard_raises_naming_source(tmp_path):
    path = tmp_path / "leaky.json"
    path.write_text(json.dumps({"classes": ["persian", "Pug", " "]}))
    with pytest.raises(ValueError, match="leaky.json"):
        load_novel_bank(str(path), "OxfordPets", PETS, logger=lambda m: None)


def test_malformed_json_names_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"classes": ["a",')
    with pytest.raises(ValueError) as err:
        load_novel_bank(str(path), "X", [], logger=lambda m: None)
    assert "broken.json" in str(err.value) and "\n" not in str(err.value)


def test_json_of_wrong_shape_names_file(tmp_path):
    path = tmp_path / "shape.json"
    path.write_text(json.dumps({"names": ["a"]}))
    with pytest.raises(ValueError, match="shape.json"):
        load_novel_bank(str(path), "X", [], logger=lambda m: None)


def test_missing_file_names_it(tmp_path):
    path = tmp_path / "absent.json"
    with pytest.raises(FileNotFoundError, match="absent.json"):
        load_novel_bank(str(path), "X", [], logger=lambda m: None)


# ---------------------------------------------------------------- "random" source


def test_random_bank_is_seeded_disjoint_and_sized():
    quiet = {"logger": lambda m: None}
    first = load_novel_bank("random", "OxfordPets", PETS, seed=1, **quiet)
    again = load_novel_bank("random", "OxfordPets", PETS, seed=1, **quiet)
    other = load_novel_bank("random", "OxfordPets", PETS, seed=2, **quiet)
    assert first == again
    assert first != other
    assert len(first) == len(other) == len(pets_bank())
    assert len(set(first)) == len(first)
    vocab = set(clip_vocab_words())
    class_words = {w for c in PETS for w in normalize_classname(c).split()}
    for word in first:
        assert word in vocab and word.isalpha() and len(word) >= 3
        assert word not in class_words


def test_random_vocabulary_is_whole_alphabetic_words():
    vocab = clip_vocab_words()
    assert list(vocab) == sorted(set(vocab))
    assert len(vocab) > 10000
    assert all(w.isascii() and w.isalpha() and len(w) >= 3 for w in vocab)
    assert "dog" in vocab and "photo" in vocab


def test_random_bank_excludes_class_names_and_their_words():
    vocab = clip_vocab_words()
    classes = ["apple pie", "zebra"] + list(vocab[: len(vocab) - 40])
    bank = load_novel_bank("random", "DescribableTextures", classes, logger=lambda m: None)
    # only 40 vocabulary words are left and the DTD bank holds fewer than that
    assert set(bank) <= set(vocab[-40:])
    assert not {"apple", "pie", "zebra"} & set(bank)


# ---------------------------------------------------------------- generator tool


def run_tool(tmp_path, env_overrides, *extra):
    classes = tmp_path / "base.txt"
    classes.write_text("abyssinian\namerican_bulldog\nbeagle\n")
    out = tmp_path / "out" / "OxfordPets.json"
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in {"http_proxy", "https_proxy", "all_proxy"}
           and not k.startswith(("OPENAI_", "SAR_BANK_"))}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(env_overrides)
    proc = subprocess.run(
        [sys.executable, str(TOOL), "--dataset", "OxfordPets", "--classes-file", str(classes),
         "--out", str(out), "--timeout", "20", *extra],
        env=env, capture_output=True, text=True, timeout=120,
    )
    return proc, out


def test_tool_without_key_exits_2_and_writes_nothing(tmp_path):
    proc, out = run_tool(tmp_path, {})
    assert proc.returncode == 2
    assert "OPENAI_API_KEY" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_tool_unreachable_endpoint_exits_3_and_writes_nothing(tmp_path):
    proc, out = run_tool(
        tmp_path, {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    )
    assert proc.returncode == 3, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "sk-test" not in proc.stderr
    assert not out.exists()


class _FakeChat(http.server.BaseHTTPRequestHandler):
    requests = []
    reply = "1. Scottish Fold\n- Persian\n* Devon Rex\nBeagle\nscottish-fold\n\n\"Pug\"\nManx"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append((self.path, self.headers.get("Authorization"), body))
        payload = json.dumps({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": body["model"] + "-2026-01-01",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": self.reply}}],
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_endpoint():
    _FakeChat.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeChat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_tool_with_fake_endpoint_writes_guarded_bank(tmp_path, fake_endpoint):
    key = "sk-secret-test-key-123"
    exclude = tmp_path / "all.txt"
    exclude.write_text("\n".join(PETS))
    proc, out = run_tool(
        tmp_path,
        {"OPENAI_API_KEY": key, "OPENAI_BASE_URL": fake_endpoint, "SAR_BANK_MODEL": "test-model"},
        "--count", "7", "--exclude-file", str(exclude),
    )
    assert proc.returncode == 0, proc.stderr
    path, auth, body = _FakeChat.requests[0]
    assert path == "/v1/chat/completions"
    assert auth == f"Bearer {key}"
    assert body["model"] == "test-model"
    prompt = body["messages"][-1]["content"]
    assert "abyssinian, american_bulldog, beagle" in prompt and "List 7 " in prompt
    assert "pug" not in prompt.lower()  # excluded classes guard the output, they are not shown

    text = out.read_text(encoding="utf-8")
    assert key not in text
    data = json.loads(text)
    assert data["dataset"] == "OxfordPets"
    assert data["classes"] == ["Scottish Fold", "Devon Rex", "Manx"]
    prov = data["provenance"]
    assert prov["model"] == "test-model-2026-01-01"
    assert prov["requested_model"] == "test-model"
    assert prov["prompt"] == prompt
    assert prov["endpoint_host"] == fake_endpoint.split("/")[2]
    assert prov["date"]
    assert not list(out.parent.glob("*.tmp"))
    assert load_novel_bank(str(out), "OxfordPets", PETS, logger=lambda m: None) == data["classes"]
