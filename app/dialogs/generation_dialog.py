"""How answers are generated: temperature, top-p, top-k, repetition penalty, answer length, seed, and whether
quotations of the documents are grounded (can only quote what the documents say).

Every setting can stay at "Model default": then nothing is sent and the engine uses the model folder's
generation_config.json (DeepSeek-R1-Distill asks for temperature 0.6 and top-p 0.95; a folder without one, or
whose file says do_sample false as the bundled model's does, is decoded greedily). A value the user sets goes with every request, to the
local engine or a server, and is remembered across starts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QLabel, QSpinBox, QVBoxLayout,
                               QWidget)

DEFAULT_TEXT = "Model default"


@dataclass(frozen=True, slots=True)
class GenerationSettings:
    """None = the model's default (the request leaves the field out)."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    grounded_quotes: bool | None = None  # None: the model's default (on for the bundled model)

    def params(self) -> dict[str, Any]:
        """The request fields (OpenAI names; top_k and repetition_penalty as vLLM's extensions; grounded quotes
        in Ponder's ``ponder`` extension)."""
        out = {k: v for k, v in asdict(self).items() if v is not None and k in RANGES}
        if self.grounded_quotes is not None:
            out["ponder"] = {"grounded_quotes": self.grounded_quotes}
        return out

    @classmethod
    def load(cls, settings: QSettings) -> GenerationSettings:
        """From ``generation/*``; a value that is missing, unreadable or out of range is the model's default."""
        values: dict[str, Any] = {"grounded_quotes": _flag(settings.value("generation/grounded_quotes", None))}
        for f in fields(cls):
            if f.name not in RANGES:
                continue
            raw = settings.value(f"generation/{f.name}", None)
            kind = float if isinstance(RANGES[f.name][2], float) else int
            try:
                value = kind(raw) if raw not in (None, "") else None
            except (TypeError, ValueError):
                value = None
            values[f.name] = value if value is None or _in_range(f.name, value) else None
        return cls(**values)

    def save(self, settings: QSettings) -> None:
        for name, value in asdict(self).items():
            if value is None:
                settings.remove(f"generation/{name}")
            else:
                settings.setValue(f"generation/{name}", value)


# name -> (lowest valid value, highest, step); a spin box's minimum, just below the lowest, means "Model default"
RANGES: dict[str, tuple[float, float, float]] = {
    "temperature": (0.0, 2.0, 0.05),
    "top_p": (0.05, 1.0, 0.05),
    "top_k": (0, 1000, 1),
    "repetition_penalty": (1.0, 2.0, 0.05),
    "max_tokens": (1, 131072, 256),
    "seed": (0, 2**31 - 1, 1),
}
# the first value one step up from "Model default": what the setting usually is, never the lowest extreme
# (one Up press from the default must not make top-p 0.05)
FIRST_STEP: dict[str, float] = {"temperature": 0.6, "top_p": 0.95, "top_k": 40, "repetition_penalty": 1.05,
                                "max_tokens": 4096, "seed": 0}
LABELS = {"temperature": "Temperature", "top_p": "Top-p", "top_k": "Top-k", "repetition_penalty": "Repetition penalty",
          "max_tokens": "Longest answer (tokens)", "seed": "Seed"}
HINTS = {"temperature": "0 is greedy: the same answer every time.",
         "top_k": "0 keeps every token.",
         "repetition_penalty": "Above 1 discourages repeating tokens already in the prompt or the answer.",
         "max_tokens": "Reasoning and answer together; by default, until the context is full.",
         "seed": "The same seed and settings give the same sampled answer."}
DEFAULT_FOR = {"max_tokens": "Until the context is full", "seed": "Random"}


def _flag(raw: Any) -> bool | None:
    """A stored on/off setting; anything else (missing, hand-edited) is the model's default."""
    text = str(raw).lower() if raw is not None else ""
    return True if text == "true" else False if text == "false" else None


def _in_range(name: str, value: float) -> bool:
    low, high, _ = RANGES[name]
    return low <= value <= high


class _DefaultFirst:
    """A spin box whose lowest position is "Model default" and whose first step up from there is a usual value."""

    first_step: float = 0.0

    def stepBy(self, steps: int) -> None:  # noqa: N802 (Qt's name)
        if self.value() == self.minimum() and steps > 0:
            self.setValue(self.first_step)
            steps -= 1
        if steps:
            super().stepBy(steps)  # type: ignore[misc]


class DefaultSpinBox(_DefaultFirst, QSpinBox):
    pass


class DefaultDoubleSpinBox(_DefaultFirst, QDoubleSpinBox):
    pass


class GenerationDialog(QDialog):
    """One spin box per setting; its lowest position reads "Model default" (Qt's special-value idiom)."""

    def __init__(self, current: GenerationSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Generation settings")
        self.setMinimumWidth(460)
        intro = QLabel("How answers are sampled, for every chat. Settings left at “Model default” use the model "
                       "folder's generation_config.json (DeepSeek-R1 recommends temperature 0.6 and top-p 0.95; "
                       "the bundled model decodes greedily).", wordWrap=True)
        form = QFormLayout()
        self.boxes: dict[str, QSpinBox | QDoubleSpinBox] = {}
        for f in fields(GenerationSettings):
            if f.name not in RANGES:
                continue
            low, high, step = RANGES[f.name]
            box: QSpinBox | QDoubleSpinBox
            if isinstance(step, float):
                box = DefaultDoubleSpinBox(decimals=2)
            else:
                box = DefaultSpinBox()
            box.first_step = FIRST_STEP[f.name]
            box.setObjectName(f"gen_{f.name}")
            box.setRange(low - (step if isinstance(step, float) else 1), high)
            box.setSingleStep(step)
            box.setSpecialValueText(DEFAULT_FOR.get(f.name, DEFAULT_TEXT))
            box.setToolTip(HINTS.get(f.name, ""))
            self.boxes[f.name] = box
            form.addRow(LABELS[f.name], box)
        self.quotes = QComboBox(objectName="gen_grounded_quotes")
        for text, value in ((DEFAULT_TEXT, None), ("Grounded in the documents", True), ("Free", False)):
            self.quotes.addItem(text, value)
        self.quotes.setToolTip("Grounded: once the model opens a quotation of the documents, it can only quote "
                               "what they say (on by default for the bundled model).")
        form.addRow("Quotes", self.quotes)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
                                        | QDialogButtonBox.StandardButton.RestoreDefaults)
        self.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).setText("All model defaults")
        self.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            lambda: self.set_settings(GenerationSettings()))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self.set_settings(current)

    def set_settings(self, settings: GenerationSettings) -> None:
        for name, box in self.boxes.items():
            value = getattr(settings, name)
            box.setValue(box.minimum() if value is None else value)
        self.quotes.setCurrentIndex(self.quotes.findData(settings.grounded_quotes))

    def settings(self) -> GenerationSettings:
        values: dict[str, Any] = {}
        for name, box in self.boxes.items():
            value = box.value()
            values[name] = None if value < RANGES[name][0] else (round(value, 2) if isinstance(value, float) else value)
        return GenerationSettings(**values, grounded_quotes=self.quotes.currentData())
