"""Steps of a reasoning trace: the text cut where the model itself structures it (numbered steps,
paragraphs, turns such as "Wait,"), with token counts and times, live (``StepTracker``) or whole
(``segment_steps``). Pure Python; feeding the text in any chunking gives the same steps.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Literal

StepKind = Literal["numbered", "paragraph", "turn"]

_LOOKAHEAD = 32  # step patterns read at most this many characters from a step's start
_MIN_WORDS = 3  # a shorter fragment joins the next step (or, at the end, the previous one)
_TITLE_CHARS = 80

_NUMBERED = re.compile(r"(?:#{1,6}[ \t]{0,3})?(?:\*\*|__)?(?:[Ss]tep[ \t]{1,3}\d{1,3}(?!\d)|\d{1,3}[.)](?=\s))")
_TURN = re.compile(r"(?:But wait|Wait|Alternatively|Hmm+|On second thought|Let me (?:double[- ]check|verify|"
                   r"re-?check))\b|等等|不对")
_SENTENCE_END = re.compile(r"[.!?。！？][\"'”’)\]*_]{0,3}$")
_NON_SPACE = re.compile(r"\S")
_SPACE_RUN = re.compile(r"\s+")
_WORDS = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]|[^\W_]+")
_TITLE_PREFIX = re.compile(r"^(?:#{1,6}\s*)?(?:[*_]{1,2})?(?:[Ss]tep\s*\d+|\d{1,3}[.)](?!\d))?"
                           r"(?:[*_]{1,2})?[\s:.)\-–—]*")
_NUMBERING = re.compile(r"^(?:#{1,6}\s*)?(?:[*_]{1,2})?(?:[Ss]tep\s*\d+|\d{1,3}[.)](?!\d))(?:[*_]{1,2})?"
                        r"[\s:.)\-–—]*(?:[*_]{1,2}(?=\s))?\s*")
_EMPHASIS = re.compile(r"\*\*|__|`|(?<!\w)\*(?=\S)|(?<=\S)\*(?!\w)")


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the reasoning. Chars [char_start, char_end) of the reasoning text; ``text`` is stripped."""

    index: int  # 1-based
    title: str
    text: str
    kind: StepKind
    token_count: int
    start_s: float
    end_s: float | None  # None while the step is still open
    char_start: int
    char_end: int


def _classify(head: str) -> StepKind:
    """The kind of a step from its first characters (at most _LOOKAHEAD of them, stripped)."""
    if _NUMBERED.match(head):
        return "numbered"
    return "turn" if _TURN.match(head) else "paragraph"


def _boundary(text: str, run_start: int, run_end: int) -> StepKind | None:
    """Whether a step starts after the whitespace text[run_start:run_end], and of which kind."""
    kind = _classify(text[run_end:run_end + _LOOKAHEAD])
    newlines = text.count("\n", run_start, run_end)
    if newlines >= 2:
        return kind
    if newlines == 1:
        return kind if kind != "paragraph" else None
    sentence_ended = _SENTENCE_END.search(text, max(0, run_start - 4), run_start) is not None
    return kind if kind == "turn" and sentence_ended else None


def _word_count(text: str) -> int:
    return len(_WORDS.findall(text))


def step_title(text: str) -> str:
    """One line: the step's first sentence without numbering or emphasis, at most ~80 characters."""
    lines = [line.strip() for line in text[:400].split("\n") if line.strip()]
    if not lines:
        return ""
    lines[0] = _TITLE_PREFIX.sub("", lines[0], count=1) or lines[0]
    count = next((n for n in range(1, len(lines) + 1) if _word_count(" ".join(lines[:n])) >= _MIN_WORDS), len(lines))
    title = _EMPHASIS.sub("", " ".join(lines[:count])).strip()
    for match in re.finditer(r"[.!?。！？](?=\s|$)", title):
        if _word_count(title[:match.end()]) >= _MIN_WORDS:
            title = title[:match.end()]
            break
    if len(title) <= _TITLE_CHARS:
        return title
    cut = title[:_TITLE_CHARS - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut[20:] else cut).rstrip(" ,;:") + "…"


def step_body(text: str) -> str:
    """A step's text as shown under its number: without the model's own numbering ("1.", "**Step 1:**"), which
    the view's index already shows."""
    head = _NUMBERING.match(text)
    body = text[head.end():] if head else text
    return body if body.strip() else text


class StepTracker:
    """Live steps of a reasoning stream; the same steps as ``segment_steps`` on the whole text."""

    def __init__(self) -> None:
        self._text = ""
        self._steps: list[Step] = []
        self._scan_pos = 0  # whitespace runs before this are decided
        self._records: deque[tuple[int, int, float]] = deque()  # (text end, tokens, t) fed to the open step
        self._open_tokens = 0
        self._finished = False

    @property
    def steps(self) -> list[Step]:
        return list(self._steps)

    def feed(self, text: str, n_tokens: int = 0, t_seconds: float = 0.0) -> list[Step]:
        """Add a reasoning delta; returns the steps created or changed (snapshots, newest last)."""
        if self._finished:
            raise RuntimeError("StepTracker.feed() after finish(); start a new tracker per response.")
        self._text += text
        self._records.append((len(self._text), n_tokens, t_seconds))
        self._open_tokens += n_tokens
        return self._update(final=False)

    def finish(self, t_seconds: float = 0.0) -> list[Step]:
        """Decide the held-back tail, close the last step at ``t_seconds``; returns the changed steps.

        A trailing fragment too short to stand alone joins the step before it, so the last step shown
        while streaming can disappear here: read ``steps`` afterwards for the final list.
        """
        if self._finished:
            return []
        changed = self._update(final=True)
        self._finished = True
        if not self._steps:
            return changed
        last = self._steps[-1]
        if len(self._steps) > 1 and _word_count(last.text) < _MIN_WORDS:
            self._steps.pop()  # a trailing fragment joins the step before it
            last = self._steps[-1]
        tokens = self._open_tokens + (last.token_count if last.end_s is not None else 0)
        self._steps[-1] = self._built(last.index, last.char_start, len(self._text), tokens, last.start_s, t_seconds)
        return [s for s in changed if s.index < last.index] + [self._steps[-1]]

    def _update(self, final: bool) -> list[Step]:
        text, changed = self._text, []
        if not self._steps:
            if not text.strip():
                return changed
            self._steps.append(self._open_step(1, 0, self._records[0][2]))
        limit = len(text) if final else len(text) - _LOOKAHEAD
        for run in _SPACE_RUN.finditer(text, self._scan_pos):
            if run.end() >= len(text) or run.end() > limit:
                break  # the run may continue, or what follows it is not known yet
            kind = _boundary(text, run.start(), run.end())
            open_step = self._steps[-1]
            if kind and _word_count(text[open_step.char_start:run.end()]) >= _MIN_WORDS:
                changed.append(self._close_open_step(run.end()))
                self._steps.append(self._open_step(open_step.index + 1, run.end(), self._time_at(run.end())))
            self._scan_pos = run.end()
        self._steps[-1] = self._open_step(self._steps[-1].index, self._steps[-1].char_start,
                                          self._steps[-1].start_s)
        return changed + [self._steps[-1]]

    def _time_at(self, position: int) -> float:
        """Time of the feed that delivered the character at ``position`` (among the open step's feeds)."""
        return next(t for end, _, t in self._records if end > position)

    def _close_open_step(self, end: int) -> Step:
        """Close the last step at ``end``: it gets the feeds whose last character lies before ``end``."""
        step, tokens = self._steps[-1], 0
        end_s = next(t for e, _, t in self._records if e >= end)
        while self._records and self._records[0][0] <= end:
            tokens += self._records.popleft()[1]
        self._open_tokens -= tokens
        self._steps[-1] = self._built(step.index, step.char_start, end, tokens, step.start_s, end_s)
        return self._steps[-1]

    def _open_step(self, index: int, start: int, start_s: float) -> Step:
        return self._built(index, start, len(self._text), self._open_tokens, start_s, None)

    def _built(self, index: int, start: int, end: int, tokens: int, start_s: float, end_s: float | None) -> Step:
        body = self._text[start:end].strip()
        head = _NON_SPACE.search(self._text, start)  # steps after the first start on non-space already
        kind = _classify(self._text[head.start():head.start() + _LOOKAHEAD]) if head else "paragraph"
        return Step(index, step_title(body), body, kind, tokens, start_s, end_s, start, end)


def segment_steps(text: str) -> list[Step]:
    """The steps of a whole reasoning text (what a StepTracker gives after any chunking of it)."""
    tracker = StepTracker()
    tracker.feed(text)
    tracker.finish()
    return tracker.steps

