"""Tokenizer on the real DeepSeek-R1-Distill-Qwen tokenizer: ids, chat template (vs HF), streaming text."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import pytest

from core.tokenizer import IncrementalDetokenizer, StopMatcher, Tokenizer, TokenizerError

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "deepseek-r1-distill-qwen-tokenizer"
BOS, EOS, USER, ASSISTANT, THINK, END_THINK = 151646, 151643, 151644, 151645, 151648, 151649

CONVERSATIONS = {
    "two_turns": [
        {"role": "system", "content": "You are a careful assistant."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "<think>\nAdd two and two.\n</think>\n\n2+2 = 4."},
        {"role": "user", "content": "And times 3? Answer in 中文 please 🙂"},
    ],
    "single": [{"role": "user", "content": "Hello, world!"}],
}


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.from_dir(FIXTURE)


@pytest.fixture(scope="module")
def hf_tok():
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(str(FIXTURE))


@pytest.fixture(scope="module")
def tiny_tokenizer_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A byte-level tokenizer.json with R1's control tokens: loads in milliseconds for template tests."""
    from tokenizers import AddedToken, decoders, models, pre_tokenizers
    from tokenizers import Tokenizer as Backend

    backend = Backend(models.BPE(vocab={c: i for i, c in enumerate(pre_tokenizers.ByteLevel.alphabet())}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    specials = ["<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<｜begin▁of▁sentence｜>"]
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    backend.add_tokens([AddedToken(t, special=False, normalized=False) for t in ("<think>", "</think>")])
    path = tmp_path_factory.mktemp("tiny") / "tokenizer.json"
    backend.save(str(path))
    return path


def make_folder(tmp_path: Path, config_changes: dict | None = None, tokenizer_json: Path = FIXTURE / "tokenizer.json",
                **extra_files: dict) -> Path:
    """A model folder with a tokenizer.json and the fixture's tokenizer_config.json, edited."""
    shutil.copy(tokenizer_json, tmp_path / "tokenizer.json")
    config = json.loads((FIXTURE / "tokenizer_config.json").read_text(encoding="utf-8"))
    config.update(config_changes or {})
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    for name, content in extra_files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(content), encoding="utf-8")
    return tmp_path


@pytest.fixture
def tiny_folder(tmp_path: Path, tiny_tokenizer_json: Path):
    """make_folder with the tiny tokenizer: ``tiny_folder({"chat_template": ...})``."""
    return lambda config_changes=None, **files: make_folder(tmp_path, config_changes, tiny_tokenizer_json, **files)


# ---- ids and special tokens ----------------------------------------------------------------------

def test_known_ids(tok: Tokenizer) -> None:
    assert tok.encode("Hello, world!") == [9707, 11, 1879, 0]
    assert [tok.token_to_id(t) for t in ("<think>", "</think>", "<｜User｜>", "<｜Assistant｜>")] == [
        THINK, END_THINK, USER, ASSISTANT]
    assert tok.bos_token_id == BOS and tok.bos_token == "<｜begin▁of▁sentence｜>"
    assert EOS in tok.eos_token_ids and tok.eos_token == "<｜end▁of▁sentence｜>"
    assert tok.vocab_size == 152064
    assert tok.token_to_id("no such token") is None


def test_encode_adds_bos_only_when_asked(tok: Tokenizer) -> None:
    assert tok.encode("Hello, world!", add_special_tokens=True) == [BOS, 9707, 11, 1879, 0]
    assert tok.encode("<think>hi</think>")[0] == THINK  # added tokens in text are matched


def test_decode_skips_special_but_keeps_think_tags(tok: Tokenizer) -> None:
    ids = [BOS, THINK, 9707, END_THINK, 9707, EOS]
    assert tok.decode(ids) == "<think>Hello</think>Hello"
    assert tok.decode(ids, skip_special_tokens=False).startswith("<｜begin▁of▁sentence｜><think>")


def test_eos_set_unites_config_files(tmp_path: Path, tok: Tokenizer) -> None:
    folder = make_folder(tmp_path, generation_config={"eos_token_id": [EOS, 151647], "bos_token_id": BOS},
                         config={"eos_token_id": 151645})
    assert Tokenizer.from_dir(folder).eos_token_ids == frozenset({EOS, 151647, 151645})
    assert tok.eos_token_ids == frozenset({EOS})  # int form in the fixture's generation_config


def test_special_tokens_as_dicts(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, {"bos_token": {"__type": "AddedToken", "content": "<｜begin▁of▁sentence｜>"},
                                    "eos_token": {"content": "<｜end▁of▁sentence｜>", "special": True}})
    tok = Tokenizer.from_dir(folder)
    assert (tok.bos_token_id, tok.eos_token_ids) == (BOS, frozenset({EOS}))
    assert tok.apply_chat_template(CONVERSATIONS["single"]).startswith("<｜begin▁of▁sentence｜><｜User｜>")


# ---- load errors ---------------------------------------------------------------------------------

def test_missing_tokenizer_json(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="tokenizer.json is missing"):
        Tokenizer.from_dir(tmp_path)


def test_corrupt_config_json_names_file(tiny_folder) -> None:
    folder = tiny_folder()
    (folder / "tokenizer_config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(TokenizerError, match="tokenizer_config.json is not valid JSON"):
        Tokenizer.from_dir(folder)


def test_corrupt_tokenizer_json(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text('{"model": 3}', encoding="utf-8")
    with pytest.raises(TokenizerError, match="tokenizer.json cannot be loaded"):
        Tokenizer.from_dir(tmp_path)


# ---- chat template -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CONVERSATIONS))
@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_chat_template_matches_transformers(tok: Tokenizer, hf_tok, name: str, add_generation_prompt: bool) -> None:
    messages = CONVERSATIONS[name]
    expected = hf_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    assert tok.apply_chat_template(messages, add_generation_prompt=add_generation_prompt) == expected
    hf_ids = hf_tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=add_generation_prompt)
    hf_ids = hf_ids["input_ids"] if isinstance(hf_ids, Mapping) else hf_ids
    assert tok.prompt_ids(messages, add_generation_prompt=add_generation_prompt) == list(hf_ids)


def test_two_turn_prompt_ids(tok: Tokenizer) -> None:
    ids = tok.prompt_ids(CONVERSATIONS["two_turns"])
    assert ids[0] == BOS and ids.count(BOS) == 1  # the template writes bos; nothing adds a second
    assert ids[-1] == ASSISTANT and ids.count(USER) == 2 and EOS in ids


def test_earlier_reasoning_is_stripped(tok: Tokenizer) -> None:
    text = tok.apply_chat_template(CONVERSATIONS["two_turns"])
    assert "Add two and two" not in text and "<think>" not in text
    assert "<｜Assistant｜>\n\n2+2 = 4.<｜end▁of▁sentence｜><｜User｜>" in text


def test_reasoning_content_passes_through(tiny_folder, tok: Tokenizer) -> None:
    messages = [{"role": "user", "content": "q"},
                {"role": "assistant", "content": "4", "reasoning_content": "2+2"}]
    assert "2+2" not in tok.apply_chat_template(messages)  # the R1 template drops old reasoning itself
    template = "{% for m in messages %}{{ m.reasoning_content }}|{{ m.thinking }};{% endfor %}"
    custom = Tokenizer.from_dir(tiny_folder({"chat_template": template}))
    assert custom.apply_chat_template(messages) == "|;2+2|2+2;"


def test_tool_call_with_none_content(tok: Tokenizer) -> None:
    call = {"type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
    messages = [{"role": "user", "content": "find x"},
                {"role": "assistant", "content": None, "tool_calls": [call]}]
    rendered = tok.apply_chat_template(messages)
    assert "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>lookup" in rendered


def test_template_helpers(tiny_folder) -> None:
    template = ("{{ messages | tojson }}|{{ {'a': 1} | tojson(indent=2) }}|{{ strftime_now('%Y') }}|"
                "{{ enable_thinking }}|{{ bos_token }}{{ eos_token }}{{ pad_token }}|{{ add_generation_prompt }}")
    tok = Tokenizer.from_dir(tiny_folder({"chat_template": template}))
    text = tok.apply_chat_template([{"role": "user", "content": "中文 <b>"}], enable_thinking=False)
    parts = text.split("|")
    assert json.loads(parts[0]) == [{"role": "user", "content": "中文 <b>"}] and "中文 <b>" in parts[0]
    assert parts[1] == '{\n  "a": 1\n}' and parts[2] == str(datetime.now().year)
    assert parts[3] == "False" and parts[4].startswith("<｜begin") and parts[5] == "True"


def test_template_list_uses_default(tiny_folder) -> None:
    templates = [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D{{ messages|length }}"}]
    tok = Tokenizer.from_dir(tiny_folder({"chat_template": templates}))
    assert tok.apply_chat_template(CONVERSATIONS["single"]) == "D1"


def test_chat_template_jinja_file_wins(tiny_folder) -> None:
    folder = tiny_folder({"chat_template": "from config"})
    (folder / "chat_template.jinja").write_text("from file {{ messages[0].content }}", encoding="utf-8")
    assert Tokenizer.from_dir(folder).apply_chat_template(CONVERSATIONS["single"]) == "from file Hello, world!"


def test_missing_template_is_clear(tiny_folder) -> None:
    tok = Tokenizer.from_dir(tiny_folder({"chat_template": None}))
    assert tok.decode(tok.encode("Hello")) == "Hello"  # raw completion still works
    with pytest.raises(TokenizerError, match="tokenizer_config.json has no chat_template"):
        tok.apply_chat_template(CONVERSATIONS["single"])


@pytest.mark.parametrize("template, message", [
    ("{{ ''.__class__.__mro__ }}", "sandbox forbids"),
    ("{{ cycler.__init__.__globals__ }}", "sandbox forbids"),
    ("{% set x = messages.append(1) %}", "sandbox forbids"),
    ("{{ raise_exception('Only user and assistant roles are supported') }}",
     "rejected the conversation: Only user and assistant roles are supported"),
    ("{{ messages[0]['content'] + 1 }}", "failed on this conversation"),
    ("{% if %}", "does not compile"),
])
def test_hostile_or_broken_templates_fail_clearly(tiny_folder, template: str, message: str) -> None:
    tok = Tokenizer.from_dir(tiny_folder({"chat_template": template}))
    with pytest.raises(TokenizerError, match=message) as info:
        tok.apply_chat_template(CONVERSATIONS["single"])
    assert "tokenizer_config.json" in str(info.value)


# ---- incremental detokenization ------------------------------------------------------------------

TEXTS = [
    "<think>\n数学题：设 x² + 1 = 10，求 x。</think>\n\nx = ±3 ✅",
    "Emoji 👨‍👩‍👧‍👦 and 🤔🎉, naïve café — ℵ₀ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢, 日本語のテキスト, 한국어.",
    "Plain ASCII with  double  spaces\n\nand newlines\tand tabs.",
]


def stream(tok: Tokenizer, ids: list[int], **kwargs) -> list[str]:
    detok = IncrementalDetokenizer(tok, **kwargs)
    return [detok.add(i) for i in ids] + [detok.flush()]


def test_detokenizer_matches_decode_on_real_text(tok: Tokenizer) -> None:
    for text in TEXTS:
        ids = tok.encode(text)
        deltas = stream(tok, ids)
        assert "".join(deltas) == tok.decode(ids) == text
        assert not any("\ufffd" in d for d in deltas)  # never half a character


def test_detokenizer_matches_decode_on_random_ids(tok: Tokenizer) -> None:
    rng = random.Random(1234)
    byte_tokens = byte_ids(tok, bytes(range(256)))
    pieces = [i for text in TEXTS for i in tok.encode(text)] + sorted(tok.special_ids) + [THINK, END_THINK]
    for trial in range(400):
        pool = [byte_tokens, pieces, range(tok.vocab_size)][trial % 3]
        ids = [rng.choice(pool) for _ in range(rng.randint(1, 40))]
        for skip in (True, False):
            assert "".join(stream(tok, ids, skip_special_tokens=skip)) == tok.decode(ids, skip), ids


def test_detokenizer_skips_special_keeps_think(tok: Tokenizer) -> None:
    ids = [BOS, THINK] + tok.encode("中") + [END_THINK, EOS]
    deltas = stream(tok, ids)
    assert deltas[0] == "" and deltas[1] == "<think>" and "".join(deltas) == "<think>中</think>"


def test_detokenizer_holds_split_character(tok: Tokenizer) -> None:
    ids = byte_ids(tok, "🤔".encode())
    detok = IncrementalDetokenizer(tok)
    assert [detok.add(i) for i in ids] == ["", "", "", "🤔"]
    detok = IncrementalDetokenizer(tok)
    assert [detok.add(i) for i in ids[:2]] == ["", ""] and detok.flush() == tok.decode(ids[:2]) == "\ufffd"


def byte_ids(tok: Tokenizer, data: bytes) -> list[int]:
    """Ids of the byte-level tokens that spell ``data`` one raw byte at a time."""
    return [tok.token_to_id(_byte_char(b)) for b in data]


def _byte_char(byte: int) -> str:
    """GPT-2 byte-level alphabet: the printable character that encodes ``byte``."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    if byte in printable:
        return chr(byte)
    return chr(256 + [b for b in range(256) if b not in printable].index(byte))


def test_detokenizer_long_stream(tok: Tokenizer) -> None:
    text = " ".join(TEXTS) * 30  # well past the window trim
    ids = tok.encode(text)
    assert len(ids) > 600 and "".join(stream(tok, ids)) == text


# ---- stop strings --------------------------------------------------------------------------------

def feed_all(matcher: StopMatcher, deltas: list[str]) -> tuple[str, bool]:
    out, stopped = [], False
    for delta in deltas:
        text, stopped = matcher.feed(delta)
        out.append(text)
        if stopped:
            break
    if not stopped:
        out.append(matcher.flush())
    return "".join(out), stopped


@pytest.mark.parametrize("text, stops, expected", [
    ("Hello END world", ["END"], ("Hello ", True)),
    ("no stop here", ["END"], ("no stop here", False)),
    ("ends with EN", ["END"], ("ends with EN", False)),
    ("a###b", ["##", "#b"], ("a", True)),
    ("xyz<|im_end|>rest", ["<|im_end|>", "<|im"], ("xyz", True)),
    ("abcabd", ["abd"], ("abc", True)),
    ("plain", [], ("plain", False)),
])
def test_stop_matcher_any_chunking(text: str, stops: list[str], expected: tuple[str, bool]) -> None:
    cuts = [(i, j) for i in range(len(text) + 1) for j in range(i, len(text) + 1)]
    for i, j in cuts:
        assert feed_all(StopMatcher(stops), [text[:i], text[i:j], text[j:]]) == expected


def test_stop_matcher_never_emits_stop_prefix() -> None:
    matcher = StopMatcher(["</answer>"])
    assert matcher.feed("The result </ans") == ("The result ", False)
    assert matcher.feed("wer> more") == ("", True)
    assert matcher.feed("ignored") == ("", True) and matcher.stopped


def test_stop_matcher_releases_false_alarm() -> None:
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("ST") == ("", False)
    assert matcher.feed("ART") == ("START", False)
    assert matcher.feed("ST") == ("", False) and matcher.flush() == "ST"


def test_stop_matcher_rejects_empty() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        StopMatcher([""])


def test_truncated_tokenizer_json_is_named_as_bad_json(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text('{"version": "1.0", "model": {', encoding="utf-8")
    with pytest.raises(TokenizerError, match="tokenizer.json is not valid JSON"):
        Tokenizer.from_dir(tmp_path)
