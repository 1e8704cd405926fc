"""Reasoning/answer splitting and step segmentation, checked under every way a stream can be chunked."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

import pytest

from core.api.protocol import CompletionTokensDetails, PonderStats, PromptTokensDetails, Usage
from core.reasoning import (ReasoningSplitter, ReasoningTrace, Step, StepTracker, prompt_opens_think, segment_steps,
                            step_title)

R1_TRACE = (
    "<think>\nOkay, so I need to find the sum of the first 10 positive integers. Let me think.\n\n"
    "I remember the formula n(n+1)/2. For n = 10 that's 10*11/2 = 55.\n\n"
    "Wait, let me check by pairing: 1+10, 2+9, and so on, five pairs of 11. Yes, 55.\n</think>\n\n"
    "The sum of the first 10 positive integers is **55**."
)

# (output, start_in_reasoning) -> (reasoning, answer, reasoning_unfinished)
SAMPLES = {
    "r1_trace": ((R1_TRACE, False), (R1_TRACE[7:R1_TRACE.index("</think>")],
                                     "The sum of the first 10 positive integers is **55**.", False)),
    "template_opened": (("Okay, 2+2 is 4.\n</think>\n\nIt is 4.", True), ("Okay, 2+2 is 4.\n", "It is 4.", False)),
    "empty_think": (("<think>\n\n</think>\n\nAnswer", False), ("\n\n", "Answer", False)),
    "unfinished": (("<think>\nStill thinking about </th", False), ("\nStill thinking about </th", "", True)),
    "unfinished_opened": (("no close yet <", True), ("no close yet <", "", True)),
    "no_think": (("Just an answer, no <think> here.", False), ("", "Just an answer, no <think> here.", False)),
    "leading_space_answer": ((" \nHello", False), ("", " \nHello", False)),
    "leading_space_think": (("\n\n<think>abc</think>ans", False), ("abc", "ans", False)),
    "partial_tag_only": (("<thi", False), ("", "<thi", False)),
    "later_think_tags_dropped": (("<think>a</think>b <think>c</think>", False), ("a", "b c", False)),
    "close_without_open_dropped": (("a b</think>c", False), ("", "a bc", False)),
    "stray_brackets": (("<think>x < y and </b> <</think>z", False), ("x < y and </b> <", "z", False)),
    "only_whitespace_after": (("<think>r</think>\n\n ", False), ("r", "", False)),
    "whitespace_only": ((" \n ", False), ("", "", False)),
    "opened_but_no_tags": (("plain reasoning", True), ("plain reasoning", "", True)),
}


def chunkings(text: str, rng: random.Random, n_random: int = 50) -> Iterator[list[str]]:
    """Every split into 2 or 3 pieces (all for short texts), one char at a time, and random chunkings."""
    n = len(text)
    cuts = [(i, j) for i in range(n + 1) for j in range(i, n + 1)] if n <= 80 else [(i, i) for i in range(n + 1)]
    for i, j in cuts:
        yield [text[:i], text[i:j], text[j:]]
    yield list(text)
    for _ in range(n_random):
        pieces, i = [], 0
        while i < n:
            j = i + rng.randint(1, 9)
            pieces.append(text[i:j])
            i = j
        yield pieces


def split(pieces: list[str], start_in_reasoning: bool) -> tuple[str, str, bool, list[tuple[str, str]]]:
    splitter = ReasoningSplitter(start_in_reasoning)
    pairs = [splitter.feed(piece) for piece in pieces] + [splitter.finish()]
    reasoning = "".join(r for r, _ in pairs)
    answer = "".join(a for _, a in pairs)
    return reasoning, answer, splitter.reasoning_unfinished, pairs


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_split_is_the_same_for_every_chunking(name: str) -> None:
    (output, opened), expected = SAMPLES[name]
    rng = random.Random(name)
    for pieces in chunkings(output, rng):
        reasoning, answer, unfinished, pairs = split(pieces, opened)
        assert (reasoning, answer, unfinished) == expected, pieces
        first_answer = next((i for i, (_, a) in enumerate(pairs) if a), len(pairs))
        assert not any(r for r, _ in pairs[first_answer + 1:])  # no reasoning once the answer has begun


def test_holds_back_only_a_possible_tag() -> None:
    splitter = ReasoningSplitter()
    assert splitter.feed("<thi") == ("", "")
    assert splitter.feed("nk>x <") == ("x ", "")
    assert splitter.feed("y </th") == ("<y ", "")
    assert splitter.in_reasoning
    assert splitter.feed("ink>") == ("", "") and not splitter.in_reasoning
    assert splitter.feed("\n\n") == ("", "")
    assert splitter.feed("Answer") == ("", "Answer")
    assert splitter.finish() == ("", "") and not splitter.reasoning_unfinished


def test_one_delta_can_hold_both_kinds() -> None:
    splitter = ReasoningSplitter(start_in_reasoning=True)
    assert splitter.feed("done.</think>\n\nYes") == ("done.", "Yes")


def test_prompt_opens_think() -> None:
    r1_prompt = "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>"
    assert not prompt_opens_think(r1_prompt)
    assert prompt_opens_think(r1_prompt + "<think>\n")
    assert not prompt_opens_think("<|im_start|>assistant\n<think>\n\n</think>\n\n")  # Qwen3, thinking off
    assert not prompt_opens_think("<｜User｜>What does <think> mean?<｜Assistant｜>")


# ---- steps --------------------------------------------------------------------------------------

TRACE = """Okay, so I need to find the sum of the first 10 positive integers. Let me think.

First, I remember there's a formula: n(n+1)/2. So for n = 10, that's 10*11/2 = 55.

Wait, let me make sure. 1+2+3+4+5+6+7+8+9+10. Pairs: 1+10=11, 2+9=11, five pairs, so 55. Hmm, that matches.

1. Pair the numbers.
2) Count the pairs: there are five.
**Step 3**: Multiply 5 by 11 to get 55.

Alternatively, I could just add them one by one. But wait, that's slower. Let me double-check the product: 5*11 = 55.

Ok.

So the answer is 55.
Done."""

TRACES = [
    TRACE,
    "Short.",
    "  \n\nLeading whitespace then text that goes on for a while.\n\nSecond paragraph here, also long enough.",
    "我们需要计算这个积分。首先，换元。\n\n等等，我再检查一下这个结果是否正确。\n\n所以答案是 2。",
    "Step 1: read.\nStep 2: think hard about it.\nStep 3: answer the question now.\nOn second thought, no.",
    "No structure at all just one long run-on line of reasoning " * 8,
    "Hmm, odd. Wait. Hmm, wait, wait! Let me verify: 3.14 is pi.\n\n\n\n  2. Then done with this one.",
]


def comparable(steps: list[Step]) -> list[tuple]:
    return [(s.index, s.title, s.text, s.kind, s.char_start, s.char_end) for s in steps]


def test_segment_steps_follows_the_models_structure() -> None:
    got = [(s.kind, s.title) for s in segment_steps(TRACE)]
    assert got == [
        ("paragraph", "Okay, so I need to find the sum of the first 10 positive integers."),
        ("paragraph", "First, I remember there's a formula: n(n+1)/2."),
        ("turn", "Wait, let me make sure."),
        ("turn", "Hmm, that matches."),
        ("numbered", "Pair the numbers."),
        ("numbered", "Count the pairs: there are five."),
        ("numbered", "Multiply 5 by 11 to get 55."),
        ("turn", "Alternatively, I could just add them one by one."),
        ("turn", "But wait, that's slower."),
        ("turn", "Let me double-check the product: 5*11 = 55."),
        ("paragraph", "Ok. So the answer is 55."),  # "Ok." is too short to stand alone; "Done." joins it
    ]


def test_steps_partition_the_text() -> None:
    for text in TRACES:
        steps = segment_steps(text)
        assert [s.index for s in steps] == list(range(1, len(steps) + 1))
        assert steps[0].char_start == 0 and steps[-1].char_end == len(text)
        assert all(a.char_end == b.char_start for a, b in zip(steps, steps[1:]))
        assert all(s.text == text[s.char_start:s.char_end].strip() for s in steps)
        assert all(s.end_s is not None and len(s.title) <= 80 for s in steps)


def test_steps_are_the_same_for_every_chunking() -> None:
    rng = random.Random(7)
    for text in TRACES:
        expected = comparable(segment_steps(text))
        pieces_list = [[text[:i], text[i:]] for i in range(len(text) + 1)] if text is TRACE else []
        pieces_list += [list(text)] + [_random_pieces(text, rng) for _ in range(40)]
        for pieces in pieces_list:
            tracker = StepTracker()
            for t, piece in enumerate(pieces):
                tracker.feed(piece, 1, float(t))
            tracker.finish(float(len(pieces)))
            assert comparable(tracker.steps) == expected, pieces
            assert sum(s.token_count for s in tracker.steps) == len(pieces)
            times = [(s.start_s, s.end_s) for s in tracker.steps]
            assert all(a <= b for start, end in times for a, b in [(start, end)])
            assert all(times[i][1] <= times[i + 1][0] for i in range(len(times) - 1))


def _random_pieces(text: str, rng: random.Random) -> list[str]:
    pieces, i = [], 0
    while i < len(text):
        j = i + rng.choice([1, 2, 3, 5, 8, 40])
        pieces.append(text[i:j])
        i = j
    return pieces


def test_tokens_and_times_go_to_the_step_that_received_the_text() -> None:
    tracker = StepTracker()
    tracker.feed("First paragraph here is long.", 5, 1.0)
    tracker.feed("\n\n", 1, 2.0)
    tracker.feed("Second paragraph with words.", 4, 3.0)
    first, second = tracker.finish(4.0)
    assert (first.token_count, first.start_s, first.end_s) == (6, 1.0, 2.0)
    assert (second.token_count, second.start_s, second.end_s) == (4, 3.0, 4.0)


def test_live_steps_while_streaming() -> None:
    tracker = StepTracker()
    assert tracker.feed("  ", 1, 0.5) == []
    changed = tracker.feed("Let us begin with a careful look at the problem.", 9, 1.0)
    assert [(s.index, s.end_s, s.token_count) for s in changed] == [(1, None, 10)]
    tracker.feed("\n\nWait, the question asks for something different here entirely.", 10, 2.0)
    steps = tracker.steps
    assert [s.index for s in steps] == [1, 2] and steps[0].end_s == 2.0 and steps[1].end_s is None
    assert steps[1].kind == "turn" and steps[1].title.startswith("Wait, the question")
    assert [s.end_s for s in tracker.finish(3.0)] == [3.0]
    with pytest.raises(RuntimeError, match="after finish"):
        tracker.feed("more", 1, 4.0)


def test_short_fragments_join_a_neighbour() -> None:
    steps = segment_steps("Okay.\n\nLet me compute the sum of these numbers.\n\nIt is 55 in total.\n\nDone.")
    assert [s.text for s in steps] == ["Okay.\n\nLet me compute the sum of these numbers.",
                                       "It is 55 in total.\n\nDone."]
    assert segment_steps("") == [] and segment_steps(" \n ") == []
    assert [s.text for s in segment_steps("Hmm.")] == ["Hmm."]


@pytest.mark.parametrize("text, title", [
    ("**Step 3**: Multiply 5*11 to get *55* now. Then more.", "Multiply 5*11 to get 55 now."),
    ("### Step 2 - Check `x` twice", "Check x twice"),
    ("3.14 is close to pi. Next.", "3.14 is close to pi."),
    ("Ok.\n\nSo the answer is 55.", "Ok. So the answer is 55."),
    ("word " * 40, "word " * 14 + "word…"),
])
def test_step_title(text: str, title: str) -> None:
    assert step_title(text) == title


# ---- the trace of one answer ---------------------------------------------------------------------
def test_a_trace_streamed_delta_by_delta_equals_it_given_whole() -> None:
    reasoning = "1. Find the two invoices.\n\n2. Add them: 1250 + 730 = 1980.\n\nWait, check the sum again."
    streamed, whole = ReasoningTrace(started_at=100.0), ReasoningTrace(started_at=100.0)
    words = re.findall(r"\s*\S+", reasoning)
    for i, word in enumerate(words):
        streamed.add(word, "", 100.5 + 0.1 * i)
    streamed.add("", "1980", 110.0)
    streamed.finish("complete", "stop", 111.0)
    whole.add(reasoning, "", 100.5, n_tokens=len(words))
    whole.add("", "1980", 110.0)
    whole.finish("complete", "stop", 111.0)
    shape = lambda t: [(s.index, s.title, s.text, s.kind) for s in t.steps]  # noqa: E731
    assert shape(streamed) == shape(whole) and len(streamed.steps) == 3
    assert (streamed.reasoning_tokens, streamed.answer_tokens) == (whole.reasoning_tokens, 1) == (len(words), 1)
    assert sum(s.token_count for s in streamed.steps) == len(words)
    assert streamed.thought_s == whole.thought_s == 10.0 and streamed.elapsed_s == 11.0
    assert streamed.ttft_s == 0.5 and streamed.tokens_per_s == (len(words)) / 9.5


def test_the_servers_figures_win_and_the_stored_form_round_trips() -> None:
    trace = ReasoningTrace(started_at=0.0, max_tokens=256, model="m")
    trace.add("Think about it carefully first.", "", 1.0)
    trace.add("", "Yes.", 2.0)
    trace.record_server(Usage(prompt_tokens=40, completion_tokens=12, total_tokens=52,
                              prompt_tokens_details=PromptTokensDetails(cached_tokens=30),
                              completion_tokens_details=CompletionTokensDetails(reasoning_tokens=9)),
                        PonderStats(ttft_s=0.25, decode_tokens_per_s=30.0, prefill_tokens_per_s=400.0))
    trace.finish("complete", "stop", 2.5)
    assert (trace.reasoning_tokens, trace.answer_tokens, trace.ttft_s, trace.tokens_per_s) == (9, 3, 0.25, 30.0)
    stored = trace.stored_stats()
    assert stored["prompt_tokens"] == 40 and stored["cached_tokens"] == 30 and stored["max_tokens"] == 256
    again = ReasoningTrace.from_stored(trace.reasoning, trace.answer, "complete", stored)
    assert again.stored_stats() == stored and again.steps == trace.steps and again.status == "complete"
    assert ReasoningTrace.from_stored("", "cut", "streaming", {}).status == "interrupted"  # the app died mid-answer


def test_a_snapshot_shares_nothing_that_changes() -> None:
    trace = ReasoningTrace()
    trace.add("One idea worth writing down here.", "", 1.0)
    shot = trace.snapshot()
    trace.add(" More of it.", "", 2.0)
    trace.finish("stopped", None, 3.0)
    assert shot.streaming and shot.reasoning == "One idea worth writing down here." and shot.steps[0].end_s is None
    with pytest.raises(ValueError):
        ReasoningTrace().finish("exploded", None, 1.0)


def test_a_steps_body_drops_only_its_own_numbering() -> None:
    from core.reasoning import step_body

    assert step_body("1. Find how many lamps.") == "Find how many lamps."
    assert step_body("**Step 2:** Then add them.") == "Then add them."
    assert step_body("3.5 kg is the weight.") == "3.5 kg is the weight."  # a number, not a step's
    assert step_body("Wait, the second invoice.") == "Wait, the second invoice."
    assert step_body("5.") == "5."  # nothing but the number: kept
