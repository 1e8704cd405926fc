"""The benchmark's answer checks (core.bench.scoring) and grading of held-out questions (core.bench.heldout),
on hand-made responses: no model, no training code."""

from __future__ import annotations

import json

import pytest

from core.bench.heldout import HELDOUT_FILE, HeldoutQuestion, grade, has_heldout, load_heldout
from core.bench.scoring import answer_correct, final_answer, parse_response

QUESTION = HeldoutQuestion("The Atlas team is managed by Priya Nair.", "Who manages the Atlas team?", "Priya Nair",
                           "lookup", 9)
WELL_FORMED = ('<think>\n1. Find who manages the Atlas team: "The Atlas team is managed by Priya Nair."\n'
               '2. Check: the sentence names Priya Nair.\n</think>\n\n{answer}')


def test_answer_correct_normalises_case_punctuation_numbers_and_dates() -> None:
    assert answer_correct("Priya Nair", "the atlas team is managed by PRIYA NAIR!")
    assert not answer_correct("Priya Nair", "Priya Nair manages it, not Tom Berg.")
    assert answer_correct("Atlas team", "It is owned by the Atlas team.")
    assert answer_correct("2465", "They hold 2,465 lamps.")
    assert not answer_correct("2465", "They hold 2,466 lamps.")
    assert answer_correct("2024-03-07", "It launched on March 7, 2024.")
    assert answer_correct("2024-03-07", "<think>\n1. x\n</think>\n\nOn 7 March 2024.")
    assert not answer_correct("2024-03-07", "It launched on 2024-03-08.")
    assert answer_correct("contradiction", "The document contradicts itself.")
    assert answer_correct("Lima warehouse, Oslo warehouse",
                          "From most to fewest: the Lima warehouse and the Oslo warehouse.")


@pytest.mark.parametrize("answer", ["The document doesn't say.", "It is not stated.", "The document does not mention "
                                    "Alma Reyes.", "That cannot be determined from the document."])
def test_not_stated_is_accepted_in_any_common_wording(answer: str) -> None:
    assert answer_correct("not stated", answer)
    assert not answer_correct("465", f"{answer} Maybe 465.")  # hedging is not an answer
    assert not answer_correct("not stated", "The document contradicts itself, so it is not stated.")


def test_only_the_final_answer_counts() -> None:
    text = WELL_FORMED.format(answer="Tom Berg manages the Atlas team.")
    assert final_answer(text) == "Tom Berg manages the Atlas team."
    assert not answer_correct("Priya Nair", text)  # the name in the reasoning does not make the answer right


def test_grading_a_right_a_wrong_and_a_malformed_response() -> None:
    right = grade(QUESTION, WELL_FORMED.format(answer="The Atlas team is managed by Priya Nair."))
    assert right.correct and right.well_formed and right.family == "lookup"
    wrong = grade(QUESTION, WELL_FORMED.format(answer="The Atlas team is managed by Tom Berg."))
    assert not wrong.correct and wrong.well_formed
    no_check = grade(QUESTION, "<think>\n1. It says Priya Nair.\n</think>\n\nPriya Nair.")
    assert no_check.correct and not no_check.well_formed
    unclosed = "<think>\n1. Find who manages the Atlas team.\n2. Find who manages the Atlas team."
    assert not grade(QUESTION, unclosed).correct and not grade(QUESTION, unclosed).well_formed
    assert parse_response(unclosed).problems == ["no '</think>'", "empty answer", "the last step is not a check"]


def test_a_held_out_set_is_read_from_the_model_folder(tmp_path) -> None:
    assert not has_heldout(tmp_path)
    item = {"document": QUESTION.document, "question": QUESTION.question, "answer_value": "Priya Nair",
            "family": "lookup", "doc_tokens": 9}
    (tmp_path / HELDOUT_FILE).write_text(json.dumps({"about": "test", "questions": [item]}), encoding="utf-8")
    assert has_heldout(tmp_path) and load_heldout(tmp_path) == [QUESTION]
    assert QUESTION.user_message() == f"{QUESTION.document}\n\nQuestion: {QUESTION.question}"
