"""Documents in the shapes people write them: memos, letters, minutes, notices, reports with headings, lists.

The facts a question needs are placed at random among other facts about the same things (near misses that
share words with the answer sentence) and filler: real prose sentences from public-domain books and
documentation (``training.sources``) and plain remarks about the document's own entities. Length is
measured with ``count_tokens`` and grown or trimmed to the target.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from build_scripts.training import sources
from build_scripts.training.reading import vocab
from build_scripts.training.reading.relations import BY_SUBJECT, RELATIONS
from build_scripts.training.reading.world import Doc, cap, date_text
from build_scripts.training.tasks.documents import estimate_tokens

REMARKS = ("Please keep this notice for your records.", "Thank you to everyone who helped.",
           "More details will follow next week.", "Any changes will be posted on the board.",
           "This replaces the notice sent last month.", "Copies are available from the office.",
           "We are grateful for your patience.", "Tea and coffee will be provided.",
           "Please check the board for updates.", "The next review is due in the spring.",
           "{P} sends apologies for the short notice.", "{P} thanked the volunteers for their work.",
           "{T} was mentioned at the last meeting.", "Several people asked about {T}.",
           "{P} will circulate the notes.", "Everyone is welcome to attend.")
TOPICS = ("Summer arrangements", "Notes for members", "Changes from next month", "Annual report",
          "Information for visitors", "Arrangements for the new year", "Staff notice", "Update from the committee",
          "Planning notes", "Weekly bulletin", "Report to members", "Season overview")
STYLES = ("report", "memo", "letter", "minutes", "list", "notice")


def render(doc: Doc, target_tokens: int, count_tokens: Callable[[str], int] = estimate_tokens) -> str:
    """The document: every needle, near misses, then filler up to ``target_tokens``."""
    rng = doc.rng
    style = doc.style or rng.choice(STYLES)
    sentences = [f.sentence for f in doc.needles]
    _add_distractors(doc, max(2, target_tokens // 60))
    movable = [f.sentence for f in doc.facts if f not in doc.needles]
    body = sentences + movable
    rng.shuffle(body)
    fixed = set(sentences)
    text = _shape(doc, style, body)
    prose = sources.prose_sentences()
    for _ in range(600):
        n = count_tokens(text)
        if n >= target_tokens * 0.95:
            break
        extra = max(1, int((target_tokens - n) / 25))
        for _ in range(extra):
            filler = rng.choice(prose) if rng.random() < 0.7 else _remark(doc)
            body.insert(rng.randint(0, len(body)), filler)
        text = _shape(doc, style, body)
    while count_tokens(text) > target_tokens * 1.1:
        spare = [i for i, s in enumerate(body) if s not in fixed]
        if not spare:
            break
        del body[rng.choice(spare)]
        text = _shape(doc, style, body)
    return text


def _add_distractors(doc: Doc, n: int) -> None:
    """Facts the question does not need: other relations of the same things, and the same relations of others."""
    rng = doc.rng
    for _ in range(n):
        kind = rng.choice([k for k in doc.entities if k in BY_SUBJECT] or ["group"])
        relation = rng.choice(BY_SUBJECT[kind])
        if RELATIONS[relation].value == "text":
            continue
        subject = rng.choice(doc.entities[kind]) if kind in doc.entities and rng.random() < 0.6 else None
        if subject is not None and any(f.subject == subject and f.rel.name == relation for f in doc.facts):
            continue
        try:
            doc.state(relation, subject=subject, needle=False)
        except RuntimeError:
            continue


def _remark(doc: Doc) -> str:
    rng = doc.rng
    template = rng.choice(REMARKS)
    people, things = doc.entities.get("person"), doc.entities.get("thing") or doc.entities.get("event")
    if ("{P}" in template and not people) or ("{T}" in template and not things):
        return rng.choice(REMARKS[:10])
    return cap(template.format(P=rng.choice(people) if people else "", T=rng.choice(things) if things else ""))


def _paragraphs(rng: random.Random, sentences: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(sentences):
        size = rng.randint(2, 5)
        out.append(" ".join(sentences[i:i + size]))
        i += size
    return out


def _shape(doc: Doc, style: str, body: list[str]) -> str:
    rng = random.Random(f"{style}:{len(body)}:{body[0] if body else ''}")  # stable per content: resizing is smooth
    topic = rng.choice(TOPICS)
    people = doc.entities.get("person") or [vocab.person(rng)]
    group = (doc.entities.get("group") or ["the committee"])[0]
    if style == "memo":
        head = f"Memo: {topic.lower()}\n\n{sign_off(doc, style, people[0])}\nTo: all members of {group}"
        return head + "\n\n" + "\n\n".join(_paragraphs(rng, body)) + "\n\nThank you."
    if style == "letter":
        return (f"Dear {rng.choice(('members', 'colleagues', 'residents', 'friends'))},\n\n"
                + "\n\n".join(_paragraphs(rng, body)) + f"\n\n{sign_off(doc, style, people[-1])}")
    if style == "minutes":
        date = date_text(dt.date(rng.randint(2018, 2026), rng.randint(1, 12), rng.randint(1, 28)), rng)
        present = ", ".join(people[:4])
        items = [f"{i}. {' '.join(body[j:j + 2])}" for i, j in enumerate(range(0, len(body), 2), 1)]
        return f"Minutes of the meeting of {group}, {date}\n\nPresent: {present}.\n\n" + "\n".join(items)
    if style == "list":
        head = f"{topic}\n\n"
        cut = rng.randint(0, len(body))
        return head + "\n".join(f"- {s}" for s in body[:cut]) + ("\n\n" + " ".join(body[cut:]) if body[cut:] else "")
    if style == "report":
        parts, i = [topic], 0
        while i < len(body):
            size = rng.randint(3, 8)
            parts.append(rng.choice(("Overview", "People", "Money", "Dates", "Stock", "Events", "Rules", "Notes",
                                     "Plans", "Arrangements")))
            parts += _paragraphs(rng, body[i:i + size])
            i += size
        return "\n\n".join(parts)
    return f"{topic}\n\n" + "\n\n".join(_paragraphs(rng, body))



SIGN_OFFS = ("Yours sincerely", "Best wishes", "Kind regards", "With thanks", "Yours faithfully")


def sign_off(doc: Doc, style: str, fallback: str) -> str:
    """The line that says who wrote a memo ("From: ...") or a letter (its closing, then the name): the
    question that asks it quotes this."""
    author = doc.author or fallback
    if style == "memo":
        return f"From: {author}"
    return f"{SIGN_OFFS[len(author) % len(SIGN_OFFS)]},\n{author}"
