"""The engine's request handling: reasoning/answer split, stops, limits, aborts, batching, seeds.

Text behaviour runs on a *scripted model* that forces a given token sequence (so every case is exact);
batching and sampling run on a tiny random qwen2 checkpoint with the real R1 tokenizer.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from core.engine.engine import ContextLengthError, Engine, EngineConfig, TokenEvent
from core.engine.sampler import SamplingParams, apply_penalties
from core.tokenizer import Tokenizer
from core.model_config import ModelConfig
from core.models.loader import LoadedModel, load_model
from tests.checkpoints import R1_TOKENIZER, random_checkpoint, tiny_config

THINK, END_THINK, EOS = 151648, 151649, 151643  # the R1 tokenizer's <think>, </think>, <｜end▁of▁sentence｜>
VOCAB = 152064
GREEDY = SamplingParams(max_tokens=64)


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    tok = Tokenizer.from_dir(R1_TOKENIZER)
    assert tok.token_to_id("<think>") == THINK and tok.token_to_id("</think>") == END_THINK
    assert tok.eos_token_ids == {EOS}
    return tok


# --- the scripted model ------------------------------------------------------------------------------------
class ScriptedModel(nn.Module):
    """Forces ``script``: the row sampled at position p gets token script[p - prompt_len + 1], then eos.

    It also checks what the engine feeds back: each decode input must be the previously scripted token.
    """

    def __init__(self, config: ModelConfig, prompt_len: int, script: list[int]) -> None:
        super().__init__()
        self.config, self.prompt_len, self.script = config, prompt_len, script
        self.forward_calls = 0
        self.wrong_inputs: list[tuple[int, int]] = []

    def forward(self, tokens: Tensor, positions: Tensor, cache=None, logits_at: Tensor | None = None) -> Tensor:
        self.forward_calls += 1
        pos, toks = positions[0].tolist(), tokens[0].tolist()
        for p, t in zip(pos, toks):
            k = p - self.prompt_len
            if 0 <= k < len(self.script) and t != self.script[k]:
                self.wrong_inputs.append((p, t))
        rows = range(len(pos)) if logits_at is None else logits_at.tolist()
        logits = torch.zeros(len(rows), self.config.vocab_size)
        for i, r in enumerate(rows):
            k = pos[r] - self.prompt_len + 1
            logits[i, self.script[k] if 0 <= k < len(self.script) else EOS] = 100.0
        return logits


def scripted_engine(tokenizer: Tokenizer, script: list[int], prompt_len: int = 8,
                    config: EngineConfig = EngineConfig(max_sequences=2, context_tokens=256)) -> Engine:
    model_config = ModelConfig.from_hf(tiny_config("qwen2", vocab_size=VOCAB))
    model = ScriptedModel(model_config, prompt_len, script)
    loaded = LoadedModel(model, model_config, "fp32", torch.float32, torch.device("cpu"), 0.0, 0)  # type: ignore
    return Engine(loaded, tokenizer, config)


def prompt(n: int = 8) -> list[int]:
    return [(1000 + 7 * i) % 150000 for i in range(n)]


def run_to_end(engine: Engine, rid: str, max_steps: int = 500) -> list[TokenEvent]:
    events: list[TokenEvent] = []
    for _ in range(max_steps):
        for event in engine.step():
            if event.request_id == rid:
                events.append(event)
                if event.finish_reason:
                    return events
    raise AssertionError(f"{rid} did not finish in {max_steps} steps")


def generate(engine: Engine, params: SamplingParams = GREEDY, start_in_reasoning: bool = False,
             n_prompt: int = 8) -> list[TokenEvent]:
    rid = engine.add(prompt(n_prompt), params, start_in_reasoning)
    events = run_to_end(engine, rid)
    assert [e.finish_reason for e in events[:-1]] == [None] * (len(events) - 1)
    assert engine.loaded.model.wrong_inputs == []
    return events


def texts(events: list[TokenEvent]) -> tuple[str, str]:
    return "".join(e.reasoning for e in events), "".join(e.answer for e in events)


def enc(tokenizer: Tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text)


def full_slots(engine: Engine) -> bool:
    return engine.scheduler.slots.free_count == engine.config.max_sequences


# --- reasoning and answer ------------------------------------------------------------------------------------
def test_reasoning_then_answer(tokenizer):
    reasoning_ids = enc(tokenizer, "\n1. step\n")
    script = [THINK, *reasoning_ids, END_THINK, *enc(tokenizer, "\n\nThe answer."), EOS]
    engine = scripted_engine(tokenizer, script)
    events = generate(engine)
    assert [e.token_id for e in events] == script
    assert texts(events) == ("\n1. step\n", "The answer.")
    with_reasoning = [i for i, e in enumerate(events) if e.reasoning]
    with_answer = [i for i, e in enumerate(events) if e.answer]
    assert with_reasoning and with_answer and max(with_reasoning) < min(with_answer)
    final = events[-1]
    assert final.finish_reason == "stop" and not final.reasoning_unfinished
    m = final.metrics
    assert m.prompt_tokens == 8 and m.completion_tokens == len(script)
    assert m.reasoning_tokens == len(reasoning_ids) + 2  # the tokens inside, plus <think> and </think>
    assert m.ttft_s is not None and m.ttft_s >= 0 and m.to_dict()["ttft_s"] == m.ttft_s
    assert full_slots(engine) and not engine.has_work()


def test_template_opened_think_only_the_close_is_generated(tokenizer):
    script = [*enc(tokenizer, "First, add.\n"), END_THINK, *enc(tokenizer, "\n\n4"), EOS]
    events = generate(scripted_engine(tokenizer, script), start_in_reasoning=True)
    assert texts(events) == ("First, add.\n", "4")
    assert events[-1].finish_reason == "stop" and not events[-1].reasoning_unfinished
    assert events[-1].metrics.reasoning_tokens == 5  # 4 reasoning tokens and </think>


def test_without_think_everything_is_answer(tokenizer):
    script = [*enc(tokenizer, "Just 4."), EOS]
    events = generate(scripted_engine(tokenizer, script))
    assert texts(events) == ("", "Just 4.")
    assert events[-1].metrics.reasoning_tokens == 0


@pytest.mark.parametrize("inside, expected", [([], ""), ([271], "\n\n")])
def test_empty_think_block(tokenizer, inside, expected):
    script = [THINK, *inside, END_THINK, *enc(tokenizer, "\n\nHi"), EOS]
    events = generate(scripted_engine(tokenizer, script))
    assert texts(events) == (expected, "Hi")
    assert not events[-1].reasoning_unfinished


def test_max_tokens_inside_reasoning(tokenizer):
    script = [THINK, *enc(tokenizer, "Let me think about it for a long time"), END_THINK, EOS]
    events = generate(scripted_engine(tokenizer, script), SamplingParams(max_tokens=4))
    assert len(events) == 4
    final = events[-1]
    assert final.finish_reason == "length" and final.reasoning_unfinished
    assert final.metrics.completion_tokens == 4
    assert texts(events) == ("Let me think", "")


def test_length_releases_a_held_partial_tag(tokenizer):
    """'<' could start '</think>' so it is held back; when the length limit ends the stream it is released."""
    body = enc(tokenizer, "x <")
    script = [THINK, *body, END_THINK, EOS]
    events = generate(scripted_engine(tokenizer, script), SamplingParams(max_tokens=1 + len(body)))
    assert events[-2].reasoning == "x"  # the "<" token alone emitted nothing...
    assert events[-1].reasoning == " <"  # ...until the end
    assert texts(events) == ("x <", "") and events[-1].reasoning_unfinished


def test_context_window_ends_with_length(tokenizer):
    script = enc(tokenizer, "one two three four five six seven eight nine ten") + [EOS]
    engine = scripted_engine(tokenizer, script, prompt_len=28,
                             config=EngineConfig(max_sequences=1, context_tokens=32))
    events = generate(engine, n_prompt=28)
    assert len(events) == 4 and events[-1].finish_reason == "length"  # 28 + 4 = the 32-token window
    assert texts(events)[1] == tokenizer.decode(script[:4])


# --- end of sequence and stop strings -----------------------------------------------------------------------
def test_eos_stops_and_adds_no_text(tokenizer):
    script = [*enc(tokenizer, "Hello"), EOS, *enc(tokenizer, " more")]
    engine = scripted_engine(tokenizer, script)
    events = generate(engine)
    assert texts(events) == ("", "Hello")
    assert events[-1].token_id == EOS and events[-1].finish_reason == "stop"
    assert events[-1].answer == "" and events[-1].metrics.completion_tokens == 2
    calls = engine.loaded.model.forward_calls
    assert engine.step() == [] and engine.loaded.model.forward_calls == calls  # nothing runs after the stop


def test_ignore_eos_continues_without_eos_text(tokenizer):
    script = [*enc(tokenizer, "Hello"), EOS, *enc(tokenizer, " more")]
    events = generate(scripted_engine(tokenizer, script), SamplingParams(max_tokens=3, ignore_eos=True))
    assert texts(events) == ("", "Hello more") and events[-1].finish_reason == "length"


def test_stop_string_split_across_tokens_is_never_emitted(tokenizer):
    script = [*enc(tokenizer, "Hello world, bye"), EOS]
    assert tokenizer.decode(script[:1]) == "Hello" and tokenizer.decode(script[1:2]) == " world"
    events = generate(scripted_engine(tokenizer, script), SamplingParams(stop=("lo wo",)))
    assert texts(events) == ("", "Hel")
    assert events[-1].finish_reason == "stop" and events[-1].token_id == script[1]
    assert [e.answer for e in events] == ["Hel", ""]


def test_partial_stop_string_is_released_at_eos(tokenizer):
    script = [*enc(tokenizer, "Hello world, bye"), EOS]
    events = generate(scripted_engine(tokenizer, script), SamplingParams(stop=("bye!",)))
    assert texts(events) == ("", "Hello world, bye") and events[-1].finish_reason == "stop"
    assert events[-2].answer == " " and events[-1].answer == "bye"  # held as a possible "bye!" until eos


def test_stop_string_inside_reasoning(tokenizer):
    script = [THINK, *enc(tokenizer, "try A. STOP here"), END_THINK, EOS]
    events = generate(scripted_engine(tokenizer, script), SamplingParams(stop=("STOP",)))
    assert texts(events) == ("try A. ", "") and events[-1].finish_reason == "stop"


def test_multibyte_characters_are_never_split(tokenizer):
    text = "Flamingo 🦩 and 𝄞 龘!"
    script = [*enc(tokenizer, text), EOS]
    assert sum(tokenizer.decode([t]) == "\ufffd" for t in script) >= 6  # really split across byte tokens
    events = generate(scripted_engine(tokenizer, script))
    assert texts(events) == ("", text)
    assert all("\ufffd" not in e.answer for e in events)
    assert "🦩" in [e.answer.strip() for e in events]  # the emoji arrives whole, in one event


def test_multibyte_character_in_reasoning_then_answer(tokenizer):
    script = [THINK, *enc(tokenizer, "龘🦩"), END_THINK, *enc(tokenizer, "\n\n𝄞"), EOS]
    events = generate(scripted_engine(tokenizer, script))
    assert texts(events) == ("龘🦩", "𝄞")
    assert all("\ufffd" not in e.reasoning + e.answer for e in events)


# --- abort -------------------------------------------------------------------------------------------------------
LONG_SCRIPT_TEXT = "Let me think step by step about this for quite a while before I answer anything at all"


def test_abort_while_queued(tokenizer):
    script = [THINK, *enc(tokenizer, LONG_SCRIPT_TEXT)]
    engine = scripted_engine(tokenizer, script, config=EngineConfig(max_sequences=1, context_tokens=256))
    a = engine.add(prompt(), GREEDY)
    assert [e.request_id for e in engine.step()] == [a]
    b = engine.add(prompt(), GREEDY)
    engine.step()
    assert list(engine.scheduler.waiting)[0].id == b and engine.scheduler.slots.free_count == 0
    event = engine.abort(b)
    assert event is not None and event.request_id == b and event.finish_reason == "abort"
    assert event.token_id is None and event.metrics.completion_tokens == 0
    assert not engine.scheduler.waiting and engine.abort(b) is None  # gone, and only once
    assert all(e.request_id == a for e in engine.step())
    final = engine.abort(a)
    assert final.finish_reason == "abort" and final.reasoning_unfinished
    assert full_slots(engine) and not engine.has_work() and engine.step() == []


def test_abort_mid_prefill_frees_the_slot(tokenizer):
    script = [*enc(tokenizer, "ok"), EOS]
    engine = scripted_engine(tokenizer, script, prompt_len=10,
                             config=EngineConfig(max_sequences=2, context_tokens=64, step_token_budget=4))
    rid = engine.add(prompt(10), GREEDY)
    assert engine.step() == []  # 4 of 10 prompt tokens prefilled, nothing sampled yet
    seq = engine.scheduler.running[0]
    assert seq.id == rid and seq.prefilling and seq.num_cached == 4
    event = engine.abort(rid)
    assert event.finish_reason == "abort" and (event.reasoning, event.answer) == ("", "")
    assert full_slots(engine) and not engine.has_work()
    events = generate(engine, n_prompt=10)  # the freed slot serves the next request normally
    assert texts(events) == ("", "ok") and full_slots(engine)


def test_prefill_progress_is_reported_pass_by_pass(tokenizer):
    script = [*enc(tokenizer, "ok"), EOS]
    engine = scripted_engine(tokenizer, script, prompt_len=10,
                             config=EngineConfig(max_sequences=1, context_tokens=64, step_token_budget=4))
    rid = engine.add(prompt(10), GREEDY)
    queued = engine.add(prompt(10), GREEDY)
    seen = []
    for _ in range(3):
        engine.step()
        seen.append([(p.request_id, p.done_tokens, p.total_tokens) for p in engine.prefill_progress()])
    assert seen[0] == [(rid, 4, 10), (queued, 0, 10)] and seen[1] == [(rid, 8, 10), (queued, 0, 10)]
    assert seen[2] == [(queued, 0, 10)]  # read (its first token sampled): only the queued one is left to read
    snapshot = engine.snapshot()
    assert (snapshot.prefilling, snapshot.prefill_tokens_done, snapshot.prefill_tokens_total) == (1, 0, 10)
    engine.abort(queued)


def test_a_slow_pass_shrinks_the_prefill_chunk_and_a_fast_one_grows_it_back():
    from core.engine.scheduler import MIN_PREFILL_CHUNK, Scheduler

    scheduler = Scheduler(1, lambda *a: None, step_token_budget=512)
    scheduler.tune_prefill(512, 2.0, target_s=0.25)  # 4 s per 1,000 tokens: far too slow for Stop to be heard
    assert scheduler.prefill_budget == 256  # at most halved per pass
    for _ in range(5):
        scheduler.tune_prefill(scheduler.prefill_budget, scheduler.prefill_budget * 0.004, target_s=0.25)
    assert scheduler.prefill_budget == 62  # 0.25 s at 4 ms a token
    scheduler.tune_prefill(62, 100.0, target_s=0.25)
    scheduler.tune_prefill(31, 100.0, target_s=0.25)
    assert scheduler.prefill_budget == MIN_PREFILL_CHUNK
    for _ in range(6):
        scheduler.tune_prefill(scheduler.prefill_budget, 0.001, target_s=0.25)
    assert scheduler.prefill_budget == 512  # never above the configured budget


def test_a_prefill_alone_takes_longer_passes_than_one_beside_a_decoding_stream(tokenizer, monkeypatch):
    """Beside a decoding stream a pass aims at ``prefill_step_s`` (its tokens keep flowing); alone, only Stop
    waits, and it aims at ``prefill_alone_step_s`` (a longer chunk reads the weights once for more tokens)."""
    import types

    import core.engine.engine as engine_module

    clock = [0.0]
    monkeypatch.setattr(engine_module, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))

    class FourMsAToken(ScriptedModel):
        def forward(self, tokens: Tensor, positions: Tensor, cache=None, logits_at: Tensor | None = None) -> Tensor:
            clock[0] += 0.004 * tokens.numel()
            return super().forward(tokens, positions, cache, logits_at)

    model_config = ModelConfig.from_hf(tiny_config("qwen2", vocab_size=VOCAB, max_position_embeddings=8192))
    model = FourMsAToken(model_config, 3000, [2000 + i for i in range(400)])
    loaded = LoadedModel(model, model_config, "fp32", torch.float32, torch.device("cpu"), 0.0, 0)  # type: ignore
    engine = Engine(loaded, tokenizer, EngineConfig(max_sequences=2, context_tokens=4096, step_token_budget=512,
                                                    prefill_step_s=0.25, prefill_alone_step_s=1.0))
    params = SamplingParams(max_tokens=300, repetition_guard=False)
    first = engine.add(prompt(3000), params)
    while engine._seqs[first].prefilling:
        engine.step()
    assert 240 <= engine.scheduler.prefill_budget <= 260  # 1 s at 4 ms a token
    engine.add([t + 1 for t in prompt(3000)], params)  # another document: nothing of it is cached
    for _ in range(8):
        engine.step()
    assert 55 <= engine.scheduler.prefill_budget <= 65  # 0.25 s, the decoding stream's token included


def test_abort_while_decoding_returns_held_text(tokenizer):
    body = enc(tokenizer, "a <")
    script = [THINK, *body, END_THINK, EOS]
    engine = scripted_engine(tokenizer, script)
    rid = engine.add(prompt(), GREEDY)
    events = []
    while len(events) < 1 + len(body):
        events += engine.step()
    assert texts(events) == ("a ", "")  # "<" could start "</think>": held back
    final = engine.abort(rid)
    assert final.finish_reason == "abort" and final.reasoning == "<" and final.reasoning_unfinished
    assert final.metrics.completion_tokens == 1 + len(body)
    assert full_slots(engine) and engine.step() == []


def test_closing_a_stream_aborts_the_request(tokenizer):
    engine = scripted_engine(tokenizer, [THINK, *enc(tokenizer, LONG_SCRIPT_TEXT)])
    stream = engine.stream(prompt(), GREEDY)
    first = next(stream)
    assert first.token_id == THINK and engine.scheduler.slots.free_count == 1
    stream.close()
    assert full_slots(engine) and not engine.has_work()


def test_stream_runs_one_request_to_the_end(tokenizer):
    script = [THINK, *enc(tokenizer, "hm"), END_THINK, *enc(tokenizer, "\n\nYes."), EOS]
    events = list(scripted_engine(tokenizer, script).stream(prompt(), GREEDY))
    assert texts(events) == ("hm", "Yes.") and events[-1].finish_reason == "stop"


# --- request validation ----------------------------------------------------------------------------------------
def test_request_ids_are_unique(tokenizer):
    engine = scripted_engine(tokenizer, [EOS], config=EngineConfig(max_sequences=2, context_tokens=64))
    ids = [engine.add(prompt(), GREEDY) for _ in range(5)]
    assert len(set(ids)) == 5
    engine.add(prompt(), GREEDY, request_id="mine")
    with pytest.raises(ValueError, match="request id 'mine' is already in use"):
        engine.add(prompt(), GREEDY, request_id="mine")
    finished = set()
    while engine.has_work():
        finished |= {e.request_id for e in engine.step() if e.finish_reason == "stop"}
    assert finished == {*ids, "mine"} and full_slots(engine)


def test_empty_prompt_is_rejected(tokenizer):
    engine = scripted_engine(tokenizer, [EOS])
    with pytest.raises(ValueError, match="the prompt is empty"):
        engine.add([], GREEDY)
    assert not engine.has_work()


@pytest.mark.parametrize("n", [64, 65, 1000])
def test_prompt_filling_the_context_names_both_counts(tokenizer, n):
    engine = scripted_engine(tokenizer, [EOS], config=EngineConfig(max_sequences=1, context_tokens=64))
    with pytest.raises(ContextLengthError) as err:
        engine.add(prompt(n), GREEDY)
    assert (err.value.prompt_tokens, err.value.context_tokens) == (n, 64)
    assert f"the prompt has {n} tokens but the context window is 64 tokens" in str(err.value)
    assert not engine.has_work()
    engine.add(prompt(63), GREEDY)  # one token of room is enough


def test_context_is_capped_by_the_model(tokenizer):
    engine = scripted_engine(tokenizer, [EOS], config=EngineConfig(max_sequences=1, context_tokens=4096))
    assert engine.context_tokens == 512  # the tiny config's max_position_embeddings
    with pytest.raises(ContextLengthError, match="the prompt has 600 tokens but the context window is 512"):
        engine.add(prompt(600), GREEDY)


@pytest.mark.parametrize("bad", [-1, VOCAB, 10**9])
def test_token_ids_outside_the_vocabulary_are_rejected(tokenizer, bad):
    engine = scripted_engine(tokenizer, [EOS])
    with pytest.raises(ValueError, match=rf"prompt token ids must be in \[0, {VOCAB}\)"):
        engine.add([5, bad, 7], GREEDY)
    assert not engine.has_work()


# --- the tiny random model: sampling and batching ------------------------------------------------------------
@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    folder = random_checkpoint(tmp_path_factory.mktemp("engine"), "qwen2", seed=11, vocab_size=VOCAB,
                               tokenizer=R1_TOKENIZER)
    return load_model(folder, "fp32"), Tokenizer.from_dir(folder)


def real_engine(random_model, **config) -> Engine:
    loaded, tok = random_model
    return Engine(loaded, tok, EngineConfig(**{"max_sequences": 4, "context_tokens": 256, **config}))


def random_prompt(n: int, seed: int) -> list[int]:
    return torch.randint(0, 151643, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def run_alone(engine: Engine, ids: list[int], params: SamplingParams) -> list[int]:
    return [e.token_id for e in engine.stream(ids, params)]


def run_together(engine: Engine, requests: list[tuple[list[int], SamplingParams]]) -> tuple[list[list[int]], int]:
    """Tokens of each request when all are added at once, and the largest number of events in one step."""
    rids = [engine.add(ids, params) for ids, params in requests]
    out: dict[str, list[int]] = {rid: [] for rid in rids}
    widest = 0
    while engine.has_work():
        events = engine.step()
        widest = max(widest, len(events))
        for e in events:
            out[e.request_id].append(e.token_id)
    return [out[rid] for rid in rids], widest


def test_seeded_sampling_is_reproducible(random_model):
    engine = real_engine(random_model)
    ids = random_prompt(12, 0)

    def params(seed: int) -> SamplingParams:
        return SamplingParams(temperature=1.0, seed=seed, max_tokens=8, ignore_eos=True)

    first = run_alone(engine, ids, params(7))
    assert len(first) == 8 and first == run_alone(engine, ids, params(7))
    assert run_alone(engine, ids, params(8)) != first
    # Still the same when another sampled request shares every batch.
    together, widest = run_together(engine, [(ids, params(7)), (random_prompt(5, 1), params(1))])
    assert widest == 2 and together[0] == first


def test_batched_greedy_equals_each_request_alone(random_model):
    engine = real_engine(random_model, step_token_budget=16)
    params = SamplingParams(max_tokens=8, ignore_eos=True)
    prompts = [random_prompt(n, seed) for seed, n in enumerate([3, 19, 40, 7])]
    alone = [run_alone(engine, ids, params) for ids in prompts]
    assert all(len(a) == 8 for a in alone)
    assert len({tuple(a) for a in alone}) == 4  # different prompts, different continuations
    together, widest = run_together(engine, [(ids, params) for ids in prompts])
    assert together == alone
    assert widest >= 3  # really decoded as a batch
    assert full_slots(engine)


def test_penalties_apply_as_openai_and_transformers_define_them():
    logits = torch.tensor([2.0, -1.0, 0.5, 3.0, 4.0])
    params = SamplingParams(repetition_penalty=2.0, frequency_penalty=0.5, presence_penalty=0.25)
    # repetition: every token in prompt or output, positive logits halved and negative doubled; frequency and
    # presence: output tokens only, 0.5 per occurrence (token 3 twice) and 0.25 once
    out = apply_penalties(logits, params, prompt_ids=[0, 1], output_ids=[3, 2, 3])
    assert out.tolist() == [1.0, -2.0, 0.25 - 0.5 - 0.25, 1.5 - 1.0 - 0.25, 4.0]
    assert logits.tolist() == [2.0, -1.0, 0.5, 3.0, 4.0]  # the caller's row is left alone
    with pytest.raises(ValueError, match="frequency_penalty"):
        SamplingParams(frequency_penalty=2.5)
    with pytest.raises(ValueError, match="repetition_penalty"):
        SamplingParams(repetition_penalty=0.0)


def test_penalised_greedy_decode_follows_a_reference_loop(random_model):
    """Each step's token is the argmax of the full forward's last logits after the penalties over the
    prompt and the tokens chosen so far, alone or batched beside an unpenalised request."""
    loaded, _ = random_model
    engine = real_engine(random_model)
    ids = random_prompt(6, 3)
    # a repetition penalty under 1 pulls the output back to the prompt's tokens; the others push repeats away
    params = SamplingParams(max_tokens=10, ignore_eos=True, repetition_penalty=0.3, frequency_penalty=1.0,
                            presence_penalty=0.5)
    expected: list[int] = []
    with torch.no_grad():
        for _ in range(10):
            seq = torch.tensor([ids + expected])
            row = loaded.model(seq, torch.arange(seq.shape[1])[None])[0, -1].double()
            for t in set(ids + expected):
                row[t] = row[t] / 0.3 if row[t] > 0 else row[t] * 0.3
            for t in set(expected):
                row[t] -= 1.0 * expected.count(t) + 0.5
            expected.append(int(row.argmax()))
    plain = run_alone(engine, ids, SamplingParams(max_tokens=10, ignore_eos=True))
    assert run_alone(engine, ids, params) == expected != plain
    together, widest = run_together(engine, [(ids, params), (random_prompt(4, 4), GREEDY)])
    assert widest >= 2 and together[0] == expected  # batched (an accepted draft adds events)


def test_long_prompt_prefilled_in_chunks_while_others_decode(random_model):
    engine = real_engine(random_model, step_token_budget=16)
    params = SamplingParams(max_tokens=16, ignore_eos=True)
    short, long_ = random_prompt(6, 10), random_prompt(80, 11)
    alone = [run_alone(engine, ids, params) for ids in (short, long_)]

    engine = real_engine(random_model, step_token_budget=16)  # fresh: no cached prefix of these prompts
    a = engine.add(short, params)
    got = {a: [e.token_id for e in engine.step() + engine.step()]}
    assert len(got[a]) == 2
    b = engine.add(long_, params)
    got[b] = []
    interleaved = 0
    while engine.has_work():
        events = engine.step()
        long_seq = next((s for s in engine.scheduler.running if s.id == b), None)
        if long_seq is not None and long_seq.prefilling and any(e.request_id == a for e in events):
            interleaved += 1
        for e in events:
            got[e.request_id].append(e.token_id)
    assert interleaved >= 4  # 80 prompt tokens at <= 15 a step, while the short one kept decoding
    assert [got[a], got[b]] == alone


# --- prefix reuse -----------------------------------------------------------------------------------
def test_repeated_prompt_reuses_its_cached_prefix(random_model):
    engine = real_engine(random_model)
    params = SamplingParams(max_tokens=8, ignore_eos=True)
    prompt = random_prompt(60, 21)
    first = list(engine.stream(prompt, params))
    second = list(engine.stream(prompt, params))
    assert first[-1].metrics.cached_prompt_tokens == 0
    assert second[-1].metrics.cached_prompt_tokens == 59  # all but the last prompt token
    assert [e.token_id for e in first] == [e.token_id for e in second]


def test_follow_up_on_the_same_document_reuses_the_document(random_model):
    engine = real_engine(random_model)
    params = SamplingParams(max_tokens=6, ignore_eos=True)
    document = random_prompt(100, 22)
    list(engine.stream(document + random_prompt(5, 23), params))
    follow_up = document + random_prompt(7, 24)
    events = list(engine.stream(follow_up, params))
    assert events[-1].metrics.cached_prompt_tokens == 100
    fresh = real_engine(random_model)
    assert [e.token_id for e in events] == [e.token_id for e in fresh.stream(follow_up, params)]


def test_concurrent_requests_on_one_document_copy_the_busy_prefix(random_model):
    engine = real_engine(random_model, step_token_budget=64)
    params = SamplingParams(max_tokens=12, ignore_eos=True)
    document = random_prompt(64, 25)
    a = engine.add(document + [5, 6], params)
    engine.step()
    while engine.scheduler.running[0].prefilling:  # then a holds the document in its busy slot
        engine.step()
    b = engine.add(document + [7, 8, 9], params)
    outputs = {a: [], b: []}
    metrics = {}
    while engine.has_work():
        for e in engine.step():
            outputs[e.request_id].append(e.token_id)
            if e.finish_reason:
                metrics[e.request_id] = e.metrics
    assert metrics[b].cached_prompt_tokens == 64
    fresh = real_engine(random_model)
    assert outputs[b] == [e.token_id for e in fresh.stream(document + [7, 8, 9], params)]


def test_least_recently_used_slot_is_evicted_first(random_model):
    engine = real_engine(random_model, max_sequences=2)
    params = SamplingParams(max_tokens=2, ignore_eos=True)
    docs = [random_prompt(40, 30 + i) for i in range(3)]
    for d in docs:  # three documents through two slots: the first is evicted
        list(engine.stream(d, params))
    cached = [list(engine.stream(d, params))[-1].metrics.cached_prompt_tokens for d in (docs[2], docs[0])]
    assert cached == [39, 0]
