"""Train the bundled model's tokenizer: a byte-level BPE laid out exactly like DeepSeek-R1-Distill-Qwen's.

Same pre-tokenizer (Qwen2's regex: single digits, so numbers are spelled digit by digit), same byte-level
decoder, the same special tokens (begin/end of sentence, User/Assistant markers as control tokens,
``<think>``/``</think>`` as ordinary added tokens) and R1's own chat template, so the bundled model loads
and renders exactly like a real R1-Distill checkpoint. Trained on generated documents and traces (the
curriculum's and the open-vocabulary natural documents'), the real prose that fills those documents, and
general English (the docstrings of Python's standard library, which every machine running this has). Being
byte-level, it spells any text, however rare its words, with byte tokens at worst.
"""

from __future__ import annotations

import ast
import json
import logging
import sysconfig
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from build_scripts.training import sources
from build_scripts.training.reading import generate_reading
from build_scripts.training.tasks import DIFFICULTIES, FAMILIES, Stage, curriculum, sample_text
from build_scripts.training.tasks.generate import MAX_TOKENS, MIN_TOKENS

log = logging.getLogger(__name__)

BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
USER, ASSISTANT = "<｜User｜>", "<｜Assistant｜>"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
CONTROL_TOKENS = (BOS, EOS, USER, ASSISTANT)  # special: skipped when decoding
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
                 r"|\s+(?!\S)|\s+")

# DeepSeek-R1-Distill's chat template, verbatim (MIT licence), so the bundled model renders like the real one.
R1_CHAT_TEMPLATE = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}{% set ns.system_prompt = message['content'] %}"
    "{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}"
    "{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is none %}{%- set ns.is_tool = false -%}"
    "{%- for tool in message['tool_calls']%}{%- if not ns.is_first %}{{'<｜Assistant｜><｜tool▁calls▁begin｜>"
    "<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + '```json' + '\\n'"
    " + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}{%- set ns.is_first = true -%}"
    "{%- else %}{{'\\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + "
    "'\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}"
    "{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor %}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is not none %}{%- if ns.is_tool %}"
    "{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}"
    "{%- else %}{% set content = message['content'] %}{% if '</think>' in content %}"
    "{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}"
    "{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}"
    "{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}"
    "{%- set ns.is_output_first = false %}{%- else %}{{'\\n<｜tool▁output▁begin｜>' + message['content'] + "
    "'<｜tool▁output▁end｜>'}}{%- endif %}{%- endif %}{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}"
    "{% endif %}{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜>'}}{% endif %}"
)


def english_corpus(max_chars: int = 3_000_000) -> str:
    """General English: docstrings of the standard library's Python files (parsed, never imported)."""
    parts, total = [], 0
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = ("test", "tests", "idlelib", "site-packages", "lib2to3", "turtledemo")
    for path in sorted(root.rglob("*.py")):
        if any(part in skip for part in path.relative_to(root).parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 200:
                    parts.append(doc)
                    total += len(doc)
        if total >= max_chars:
            break
    return "\n\n".join(parts)[:max_chars]


def training_corpus(seed: int, n_examples: int = 4000, n_reading: int = 4000) -> list[str]:
    """The generated curriculum's text, natural documents in open vocabulary with their traces, the real
    prose their filler comes from, and general English."""
    texts = [sample_text(2_000_000, seed)]
    # every family equally often, not with stage 3's weights: the tokenizer's text, and so the tokenizer,
    # do not change when the curriculum's weights do
    stream = curriculum(3, seed, spec=Stage(FAMILIES, DIFFICULTIES, MIN_TOKENS, MAX_TOKENS))
    for _ in range(n_examples):
        example = next(stream)
        texts.append(example.user_message())
        texts.append(example.response())
    for i in range(n_reading):
        for example in generate_reading(seed * 1_000_003 + i):
            texts.append(example.user_message())
            texts.append(example.response())
    texts.append("\n".join(sources.prose_sentences()))
    texts.append(english_corpus())
    return texts


def train_tokenizer(out_dir: Path, vocab_size: int = 4096, seed: int = 0) -> Tokenizer:
    """Train and write tokenizer.json + tokenizer_config.json (with R1's chat template) into ``out_dir``."""
    tok = Tokenizer(models.BPE(byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(CONTROL_TOKENS) - 2, min_frequency=2, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(training_corpus(seed), trainer=trainer)
    tok.add_special_tokens(list(CONTROL_TOKENS))
    tok.add_tokens([THINK_OPEN, THINK_CLOSE])
    out_dir.mkdir(parents=True, exist_ok=True)
    tok.save(str(out_dir / "tokenizer.json"))
    config = {
        "add_bos_token": True, "add_eos_token": False, "bos_token": BOS, "eos_token": EOS, "pad_token": EOS,
        "model_max_length": 4096, "tokenizer_class": "LlamaTokenizerFast", "legacy": True,
        "chat_template": R1_CHAT_TEMPLATE,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n",
                                                   encoding="utf-8")
    log.info("tokenizer: %d tokens", tok.get_vocab_size())
    return tok
