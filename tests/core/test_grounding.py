"""Grounded quotes and the repetition guard: quotations can only quote the document, loops are cut.

The constraint is checked at three levels: the grounder alone against the real R1 tokenizer (a made-up
quote is refused token by token, a real one goes through to its closing mark); the engine with a model that
prefers a made-up quote (greedy, and sampled over many seeds: every quotation in the output occurs in the
document, starting at a sentence); and unchanged output when no quotation is opened (bit-identical tokens).
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
import torch
from torch import Tensor, nn

from core.api.protocol import ChatCompletionRequest
from core.engine.engine import Engine, EngineConfig
from core.engine.grounding import (DEFAULT_OPENER, QuoteRules, QuoteSource, content_words, grounder_for,
                                   model_quote_rules, question_of)
from core.engine.repetition import RepetitionGuard
from core.engine.sampler import SamplingParams
from core.model_config import ModelConfig
from core.models.loader import LoadedModel, load_model
from core.server.model_state import DEFAULT_MAX_TOKENS, GenerationDefaults, ModelState
from core.tokenizer import Tokenizer
from tests.checkpoints import R1_TOKENIZER, random_checkpoint, tiny_config

VOCAB, EOS = 152064, 151643
DOCUMENT = ("Harbour Street memo\n\nOsric Pell manages the Heron team. The Heron team works from the old\n"
            "mill in Bergen, next to the ferry.\n\n- Lunch is served at noon.\n- The warehouse in Bergen holds "
            "420 crates.")
QUOTE = re.compile(re.escape(DEFAULT_OPENER) + r'([^"]*)"')


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer.from_dir(R1_TOKENIZER)


def quotes_of(text: str) -> list[str]:
    return QUOTE.findall(text)


def in_document(quote: str) -> bool:
    """Verbatim (whitespace runs as one space) and from a sentence or line start of the document."""
    quote = re.sub(r"\s+", " ", quote)
    flat = " ".join(DOCUMENT.split())
    starts = {0} | {m.end() for m in re.finditer(r"(?:[.!?] |\n)(?:- )?", DOCUMENT)}
    return any(" ".join(DOCUMENT[s:].split()).startswith(quote) for s in starts) and quote in flat


# --- the grounder alone ------------------------------------------------------------------------------------
def test_the_source_is_flattened_and_knows_its_sentence_starts():
    source = QuoteSource.of(DOCUMENT)
    assert b"from the old mill in Bergen" in source.text  # the line break inside the sentence is a space
    firsts = [source.text[s:s + 12] for s in source.starts]
    assert firsts == [b"Harbour Stre", b"Osric Pell m", b"The Heron te", b"Lunch is ser", b"The warehous"]


def test_a_made_up_quote_is_refused_token_by_token_and_a_real_one_goes_through(tokenizer):
    def walk(text: str) -> list[bool]:
        grounder = grounder_for(tokenizer, DOCUMENT)
        allowed = []
        for token in tokenizer.encode(text):
            rule = grounder.constraint()
            allowed.append(rule is None or (token in rule[1]) == (rule[0] == "allow"))
            grounder.advance(token)
        return allowed

    real = walk('Find the manager. The document says: "Osric Pell manages the Heron team." So it is Osric.')
    assert all(real)
    made_up = walk('Find the manager. The document says: "The Heron team is managed by Idris Santos."')
    assert not all(made_up) and made_up.index(False) > len(tokenizer.encode("Find the manager. The document says:"))
    grounder = grounder_for(tokenizer, DOCUMENT)
    for token in tokenizer.encode("The document says:"):
        grounder.advance(token)
    kind, denied = grounder.constraint()
    assert kind == "deny" and tokenizer.encode(' "')[0] not in denied  # the opener may still be completed
    for token in tokenizer.encode(' "'):
        grounder.advance(token)
    kind, allowed = grounder.constraint()
    assert kind == "allow" and tokenizer.encode('"')[0] not in allowed  # never an empty quote
    assert grounder.quotes == 1 and grounder.quoting


def opened(tokenizer: Tokenizer, grounder, text: str):
    """``grounder`` after the output ``text`` (which ends by opening a quote, or inside one)."""
    for token in tokenizer.encode(text):
        grounder.advance(token)
    return grounder


def first_tokens_allowed(tokenizer: Tokenizer, grounder, starts: list[str]) -> list[bool]:
    kind, allowed = grounder.constraint()
    assert kind == "allow"
    return [tokenizer.encode(" " + s)[0] in allowed or tokenizer.encode(s)[0] in allowed for s in starts]


SENTENCES = ["Osric", "Lunch", "Harbour"]


def test_near_question_quotes_open_only_at_sentences_that_share_its_words(tokenizer):
    question = "Who manages the Heron team?"
    near = grounder_for(tokenizer, DOCUMENT, question=question)
    line = f'1. Find: {question} The document says: "'
    assert first_tokens_allowed(tokenizer, opened(tokenizer, near, line), SENTENCES) == [True, False, False]
    plain = grounder_for(tokenizer, DOCUMENT)
    assert first_tokens_allowed(tokenizer, opened(tokenizer, plain, line), SENTENCES) == [True, True, True]
    # the step's own words count too: a question that says nothing lets the step decide, a new line resets
    vague = grounder_for(tokenizer, DOCUMENT, question="What is it?")
    step = opened(tokenizer, vague, 'Find: {x}\n2. Find: when is lunch served? The document says: "')
    assert first_tokens_allowed(tokenizer, step, SENTENCES) == [False, True, False]
    # the closest sentence and those at least half as close: the Heron team's other sentence stays a choice
    source = QuoteSource.of(DOCUMENT, sentence_words=True)
    firsts = [source.text[s:s + 9] for s in source.nearest_starts(content_words(question))]
    assert firsts == [b"Osric Pel", b"The Heron"]
    assert source.nearest_starts(content_words("What about it?")) == source.starts  # no word shared: any sentence


def test_whole_sentence_quotes_close_only_where_a_sentence_ends(tokenizer):
    close = tokenizer.encode('"')[0]
    for whole in (True, False):
        grounder = grounder_for(tokenizer, DOCUMENT, whole_sentences=whole)
        opened(tokenizer, grounder, 'Find. The document says: "Osric Pell manages the Heron')
        assert (close in grounder.constraint()[1]) is not whole  # mid-sentence: only without the rule
        opened(tokenizer, grounder, " team.")
        assert close in grounder.constraint()[1]
    grounder = opened(tokenizer, grounder_for(tokenizer, DOCUMENT, whole_sentences=True),
                      'The document says: "Lunch is served at noon')
    assert close not in grounder.constraint()[1]  # "noon" ends no sentence: its "." does
    grounder = opened(tokenizer, grounder_for(tokenizer, DOCUMENT, whole_sentences=True),
                      'The document says: "Harbour Street memo')
    assert close in grounder.constraint()[1]  # a heading's line ends without a full stop
    assert QuoteSource.of("It is 3.5 kg. Next one.").ends == {13, 23}  # a decimal point ends nothing


def test_the_first_restatement_writes_the_question_out_verbatim(tokenizer):
    question = "Who fills the Ysgubor water troughs?"
    rules = QuoteRules(restate_opener="1. Find:")
    grounder = rules.grounder(tokenizer, DOCUMENT, f"{DOCUMENT}\n\nQuestion: {question}")
    opened(tokenizer, grounder, "<think>\n1. Find:")
    for token in tokenizer.encode(" " + question):
        kind, allowed = grounder.constraint()
        assert kind == "allow" and token in allowed and tokenizer.encode(" The")[0] not in allowed
        grounder.advance(token)
    assert grounder.constraint() is None  # written out: free again
    opened(tokenizer, grounder, ' The document says: "Osric Pell manages the Heron team."\n2. Find:')
    assert grounder.constraint() is None  # later steps may rephrase
    assert QuoteRules.from_config(rules.to_config()) == rules
    full = QuoteRules(DEFAULT_OPENER, True, True, "1. Find:", "answers the question:")
    assert QuoteRules.from_config(full.to_config()) == full


def test_a_value_is_words_of_the_sentence_just_quoted(tokenizer):
    rules = QuoteRules(value_opener="answers the question:")
    grounder = opened(tokenizer, rules.grounder(tokenizer, DOCUMENT),
                      '1. Find: who? The document says: "Osric Pell manages the Heron team."\n2. Check: that sentence '
                      "answers the question:")
    kind, allowed = grounder.constraint()
    firsts = {word: tokenizer.encode(" " + word)[0] for word in ("Osric", "Heron", "the", "Idris", "Bergen")}
    assert kind == "allow" and {w for w, t in firsts.items() if t in allowed} == {"Osric", "Heron", "the"}
    period = tokenizer.encode(".")[0]
    assert period not in allowed  # a value has a word at least
    for token in tokenizer.encode(" the Heron"):
        grounder.advance(token)
    kind, allowed = grounder.constraint()
    assert period in allowed and tokenizer.encode(" team")[0] in allowed
    assert tokenizer.encode(" Osric")[0] not in allowed
    opened(tokenizer, grounder, " team.")
    assert grounder.constraint() is None  # the value ends with its full stop


def test_the_question_is_the_last_question_line():
    assert question_of("Doc\nQuestion: not this\n\n---\nRules\n\nQuestion: Who runs it? ") == "Who runs it?"
    assert question_of("Question: Who?") == "Who?" and question_of("Who runs the mill?") is None


def test_nothing_to_quote_means_no_grounder(tokenizer):
    assert grounder_for(tokenizer, "   ") is None


# --- in the engine -----------------------------------------------------------------------------------------
class PreferringModel(nn.Module):
    """Prefers ``script`` token by token (by output position), with ``noise`` elsewhere; follows whatever the
    engine actually sampled, so a constrained output can leave the script."""

    def __init__(self, config: ModelConfig, prompt_len: int, script: list[int], noise: float = 0.0) -> None:
        super().__init__()
        self.config, self.prompt_len, self.script = config, prompt_len, script
        self.noise = torch.Generator().manual_seed(0), noise

    def forward(self, tokens: Tensor, positions: Tensor, cache=None, logits_at: Tensor | None = None) -> Tensor:
        pos = positions[0].tolist()
        rows = range(len(pos)) if logits_at is None else logits_at.tolist()
        generator, noise = self.noise
        logits = noise * torch.randn(len(rows), self.config.vocab_size, generator=generator)
        for i, r in enumerate(rows):
            k = pos[r] - self.prompt_len + 1
            logits[i, self.script[k] if 0 <= k < len(self.script) else EOS] += 16.0
        return logits


def preferring_engine(tokenizer: Tokenizer, script: list[int], noise: float = 0.0) -> Engine:
    config = ModelConfig.from_hf(tiny_config("qwen2", vocab_size=VOCAB))
    model = PreferringModel(config, 8, script, noise)
    loaded = LoadedModel(model, config, "fp32", torch.float32, torch.device("cpu"), 0.0, 0)  # type: ignore[arg-type]
    return Engine(loaded, tokenizer, EngineConfig(max_sequences=4, context_tokens=512))


def run(engine: Engine, params: SamplingParams, grounded: bool) -> tuple[str, list[int], object]:
    grounder = grounder_for(engine.tokenizer, DOCUMENT) if grounded else None
    events = list(engine.stream(list(range(1000, 1008)), params, grounder=grounder))
    ids = [e.token_id for e in events if e.token_id is not None]
    return engine.tokenizer.decode(ids), ids, events[-1].metrics


MADE_UP = 'Find the manager. The document says: "The Heron team is managed by Idris Santos." So Idris.'


def test_greedy_the_made_up_quote_becomes_one_the_document_has(tokenizer):
    engine = preferring_engine(tokenizer, tokenizer.encode(MADE_UP))
    free, _, _ = run(engine, SamplingParams(max_tokens=40), grounded=False)
    assert quotes_of(free) == ["The Heron team is managed by Idris Santos."]  # what the model would say
    grounded, _, metrics = run(engine, SamplingParams(max_tokens=40), grounded=True)
    found = quotes_of(grounded)
    assert len(found) == 1 and found[0].startswith("The Heron team") and in_document(found[0]), grounded
    assert metrics.grounded_quotes == 1 and metrics.grounding_overrides >= 1


def test_sampled_quotes_always_occur_in_the_document(tokenizer):
    engine = preferring_engine(tokenizer, tokenizer.encode(MADE_UP), noise=1.0)
    seen = []
    for seed in range(12):
        text, _, _ = run(engine, SamplingParams(max_tokens=48, temperature=1.0, seed=seed), grounded=True)
        for quote in quotes_of(text):
            assert in_document(quote), (seed, quote)
            seen.append(quote)
    assert seen  # the opener was written, so quotations were decoded


def test_without_a_quotation_the_output_is_bit_identical(tmp_path, tokenizer):
    model_dir = random_checkpoint(tmp_path / "m", "qwen2", vocab_size=VOCAB, tokenizer=R1_TOKENIZER, hidden_size=64)
    engine = Engine(load_model(model_dir, "fp32"), Tokenizer.from_dir(model_dir),
                    EngineConfig(max_sequences=2, context_tokens=256))
    params = SamplingParams(max_tokens=32, repetition_guard=False)
    _, plain, _ = run(engine, params, grounded=False)
    text, grounded, metrics = run(engine, params, grounded=True)
    assert DEFAULT_OPENER not in text and grounded == plain and metrics.grounding_overrides == 0


# --- the repetition guard -----------------------------------------------------------------------------------
def feed(guard: RepetitionGuard, tokens: list[int]) -> int | None:
    """The 1-based position at which the guard calls a loop, if it does."""
    for i, token in enumerate(tokens, 1):
        if guard.add(token):
            return i
    return None


def test_a_loop_is_caught_and_a_repeated_line_is_not():
    prose = list(range(100, 160))
    assert feed(RepetitionGuard(), prose + [7, 8, 9, 10] * 30) == 60 + 44  # "of the8" x 11: 40 tokens past the first
    assert feed(RepetitionGuard(), prose + [5] * 60) == 61 + 40  # one name over and over
    line = list(range(200, 230))
    assert feed(RepetitionGuard(), prose + line * 3 + [1, 2, 3]) is None  # a line said three times: legitimate
    assert feed(RepetitionGuard(), prose + line * 5) == 60 + 30 * 4  # four copies of a 30-token line: a loop


def test_the_engine_stops_a_looping_answer_and_says_why(tokenizer):
    loop = tokenizer.encode("Ibrahim") * 80
    engine = preferring_engine(tokenizer, tokenizer.encode("The answer is") + loop)
    text, ids, metrics = run(engine, SamplingParams(max_tokens=200), grounded=False)
    assert metrics.stop_reason == "repetition" and len(ids) < 60
    _, ids, metrics = run(engine, SamplingParams(max_tokens=100, ignore_eos=True), grounded=False)
    assert metrics.stop_reason == "max_tokens" and len(ids) == 100  # benchmarks: exactly the tokens asked for


# --- the API's options ------------------------------------------------------------------------------------
def test_the_model_folder_sets_the_defaults(tmp_path):
    (tmp_path / "generation_config.json").write_text(json.dumps(
        {"do_sample": False, "max_new_tokens": 1536, "ponder_quote_opener": 'The text says: "'}))
    defaults = GenerationDefaults.from_dir(tmp_path)
    assert (defaults.max_tokens, defaults.quotes) == (1536, QuoteRules('The text says: "'))
    assert GenerationDefaults.from_dir(tmp_path / "nothing").max_tokens == DEFAULT_MAX_TOKENS


def test_the_model_folder_and_the_request_set_the_quote_rules(tokenizer, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "generation_config.json").write_text(json.dumps(
        {"ponder_quote_opener": DEFAULT_OPENER, "ponder_quote_whole_sentences": True,
         "ponder_quote_near_question": True, "ponder_restate_opener": "1. Find:",
         "ponder_value_opener": "answers the question:"}))
    defaults = GenerationDefaults.from_dir(folder)
    assert defaults.quotes == QuoteRules(DEFAULT_OPENER, True, True, "1. Find:", "answers the question:")
    assert defaults.quotes == model_quote_rules(folder)
    assert QuoteRules.from_config(defaults.quotes.to_config()) == defaults.quotes
    state = ModelState(SimpleNamespace(engine=SimpleNamespace(tokenizer=tokenizer)), None, "m", defaults, {}, 0.0)
    message = {"role": "user", "content": f"{DOCUMENT}\n\nQuestion: Who manages the Heron team?"}

    def grounder(ponder: dict | None):
        return state.grounder(ChatCompletionRequest.model_validate({"messages": [message], "ponder": ponder}))

    g = grounder(None)
    assert g.whole_sentences and g.question == content_words("Who manages the Heron team?")
    assert g.echo is not None and g.value is not None
    g = grounder({"quote_near_question": False, "quote_whole_sentences": False})
    assert not g.whole_sentences and g.question is None
    assert g.echo is not None and g.value is not None  # options the request leaves out keep the model's rules
    assert grounder({"grounded_quotes": False}) is None


def test_the_request_option_is_strict():
    request = ChatCompletionRequest.model_validate(
        {"messages": [{"role": "user", "content": "hi"}], "ponder": {"grounded_quotes": False}})
    assert request.ponder.grounded_quotes is False
    with pytest.raises(ValueError):
        ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": "hi"}],
                                              "ponder": {"grounded": True}})
