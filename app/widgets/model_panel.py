"""ModelPanel: the loaded model, its precision plan with the reasons, and the controls to load another.

Three parts, top to bottom:
- Model: name, the card's one-line summary of what it can and cannot do (its front matter's ``summary:``),
  architecture, parameters, context, folder, and its README model card (Markdown, rendered offline: no image
  or link is fetched).
- Plan: device, precision, compute dtype, the planner's estimate next to what the engine measured
  (RSS, VRAM), and the planner's reasons in plain words; on a CPU, "Measure CPU speed again" (bf16 against
  fp32 is measured once per machine on a quiet CPU and kept; a busy CPU never changes it).
- Load: a model folder (Browse…) or a Hugging Face repo id (Download), precision (auto or fixed) and
  context; the estimate for that choice is shown BEFORE loading ("fits: 3.4 of 11.2 GiB" /
  "does not fit: needs …"), then Load, with its progress.

The panel only shows and asks: ``options_changed`` (estimate these), ``load_requested``,
``download_requested`` / ``download_cancel_requested``, ``cpu_speed_requested``. ``app.model_controller`` does
the work. Texts that come and go keep their room (the estimate has three lines reserved), so nothing moves
under the pointer when an estimate arrives.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSignalBlocker, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QFrame, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QProgressBar, QPushButton, QScrollArea, QSpinBox, QTextBrowser,
                               QVBoxLayout, QWidget)

from core.api.protocol import EngineEvent, EngineStatus, PlanResult
from core.precision import PRECISION_CHOICES, format_bytes

GiB = 1024**3
UNAVAILABLE = "not available on this server"
_FRONT_MATTER = re.compile(r"\A---\s*\n.*?\n---\s*\n", re.S)
_SUMMARY = re.compile(r"^summary:[ \t]*(.+?)[ \t]*$", re.M)
_HEADING = re.compile(r"^(#{1,6})([ \t])", re.M)


def gib(n: int | float | None) -> str:
    """Bytes in the unit that shows them ("17.0 MiB" for a small model, "3.4 GiB"); "—" when unknown."""
    return "—" if n is None else format_bytes(n)


def parameters_text(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.2f} B parameters"
    if n >= 1e6:
        return f"{n / 1e6:.1f} M parameters"
    return f"{n:,} parameters"


def estimate_text(result: PlanResult) -> str:
    """One line for the estimate of a hypothetical load."""
    if result.fits:
        plan = result.plan or {}
        return (f"fits: {gib(result.needs_bytes)} of {gib(result.budget_bytes)} "
                f"({plan.get('precision', result.precision)} on {plan.get('device', '?')}, "
                f"{plan.get('context_tokens', 0):,}-token context)")
    needs = f"needs {gib(result.needs_bytes)}, {gib(result.budget_bytes)} free" if result.needs_bytes else ""
    return f"does not fit: {needs}" if needs else "does not fit"


def model_card_summary(text: str) -> str:
    """The card's one-line ``summary:`` from its YAML front matter (what the model can and cannot do), or ""."""
    front = _FRONT_MATTER.match(text)
    found = _SUMMARY.search(front.group()) if front else None
    return found.group(1).strip("\"'") if found else ""


def model_card_markdown(text: str) -> str:
    """A README as shown in a side panel: YAML front matter dropped (metadata, not prose), headings two levels
    smaller (a card's title is already the panel's title)."""
    body = _FRONT_MATTER.sub("", text, count=1).strip()
    return _HEADING.sub(lambda m: "#" * min(6, len(m.group(1)) + 2) + m.group(2), body)


class OfflineBrowser(QTextBrowser):
    """A text browser that never loads anything: no remote images, no local files, links not followed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)

    def loadResource(self, type: int, url: QUrl) -> Any:  # noqa: A002 (Qt's name)
        if url.scheme().lower() == "data":
            return super().loadResource(type, url)
        return QByteArray()  # every other resource (http, file, relative) stays empty


class ModelPanel(QWidget):
    options_changed = Signal(object, str, object)  # model folder (None = current), precision, context (None)
    load_requested = Signal(object, str, object)
    download_requested = Signal(str)
    download_cancel_requested = Signal()
    cpu_speed_requested = Signal()  # measure bf16 against fp32 on the engine's CPU again

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelPanel")
        self.current_model_path: str | None = None
        self.remote = False
        self._last_status: EngineStatus | None = None
        self._estimate_timer = QTimer(self, singleShot=True, interval=250)
        self._estimate_timer.timeout.connect(self._emit_options)
        inner = QWidget()
        column = QVBoxLayout(inner)
        column.addWidget(self._model_box())
        column.addWidget(self._plan_box())
        column.addWidget(self._load_box())
        column.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(inner)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)
        self.set_no_engine("The engine is starting…")

    # --- building --------------------------------------------------------------------------------------
    def _model_box(self) -> QGroupBox:
        box = QGroupBox("Model")
        self.name_label = QLabel(objectName="modelName", textFormat=Qt.TextFormat.PlainText)
        font = self.name_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.name_label.setFont(font)
        self.details_label = QLabel(objectName="modelDetails", wordWrap=True)
        self.details_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary_label = QLabel(objectName="modelSummary", wordWrap=True, textFormat=Qt.TextFormat.PlainText)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary_label.hide()
        self.card = OfflineBrowser()
        self.card.setObjectName("modelCard")
        self.card.setMinimumHeight(120)
        self.card.setMaximumHeight(260)
        layout = QVBoxLayout(box)
        layout.addWidget(self.name_label)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.details_label)
        layout.addWidget(self.card)
        return box

    def _plan_box(self) -> QGroupBox:
        box = QGroupBox("Precision plan")
        self.plan_label = QLabel(objectName="planSummary", wordWrap=True)
        self.memory_label = QLabel(objectName="planMemory", wordWrap=True)
        self.reasons_label = QLabel(objectName="planReasons", wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.cpu_speed_button = QPushButton("Measure CPU speed again", objectName="remeasureCpu", visible=False)
        self.cpu_speed_button.setToolTip("Measure whether bf16 is faster than fp32 on this CPU (a fraction of a "
                                         "second). Do it when the computer is quiet: a busy CPU's measurement is "
                                         "thrown away and the kept one stays. The next load uses it.")
        self.cpu_speed_label = QLabel(objectName="cpuSpeedResult", wordWrap=True, visible=False)
        layout = QVBoxLayout(box)
        for widget in (self.plan_label, self.memory_label, self.reasons_label, self.cpu_speed_label):
            widget.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(widget)
        layout.insertWidget(3, self.cpu_speed_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.cpu_speed_button.clicked.connect(self._cpu_speed_clicked)
        return box

    def _cpu_speed_clicked(self) -> None:
        self.cpu_speed_button.setEnabled(False)
        self.cpu_speed_button.setText("Measuring…")
        self.cpu_speed_requested.emit()

    def show_cpu_speed(self, message: str) -> None:
        """The outcome of measuring again (the button is ready for another go)."""
        self.cpu_speed_button.setEnabled(True)
        self.cpu_speed_button.setText("Measure CPU speed again")
        self.cpu_speed_label.setText(message)
        self.cpu_speed_label.setVisible(bool(message))

    def _load_box(self) -> QGroupBox:
        box = QGroupBox("Load a model")
        self.folder_edit = QLineEdit(objectName="modelFolder", placeholderText="the loaded model")
        self.browse_button = QPushButton("Browse…", objectName="browseButton")
        self.browse_button.setToolTip("Open a model folder (Hugging Face layout with safetensors) — Ctrl+O")
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(self.browse_button)
        self.repo_edit = QLineEdit(objectName="repoId", placeholderText="owner/name on huggingface.co")
        self.download_button = QPushButton("Download", objectName="downloadButton")
        self.download_button.setToolTip("Download safetensors, JSON and tokenizer files only (resumable)")
        self.cancel_download_button = QPushButton("Cancel", objectName="cancelDownloadButton")
        self.cancel_download_button.setToolTip("Stop after the file being downloaded (it resumes next time)")
        self.cancel_download_button.setVisible(False)
        repo_row = QHBoxLayout()
        repo_row.addWidget(self.repo_edit, 1)
        repo_row.addWidget(self.download_button)
        repo_row.addWidget(self.cancel_download_button)
        self.download_label = QLabel(objectName="downloadStatus", wordWrap=True)
        self.download_label.setVisible(False)
        self.precision_combo = QComboBox(objectName="precisionCombo")
        self.precision_combo.addItems(PRECISION_CHOICES)
        self.precision_combo.setToolTip("auto: the planner picks the fastest precision that fits and keeps quality")
        self.context_spin = QSpinBox(objectName="contextSpin", minimum=0, maximum=1_048_576, singleStep=1024)
        self.context_spin.setSpecialValueText("model default")
        self.context_spin.setSuffix(" tokens")
        self.estimate_label = QLabel(objectName="estimateLabel", wordWrap=True)
        self.estimate_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.estimate_label.setFixedHeight(3 * self.estimate_label.fontMetrics().lineSpacing() + 4)
        self.load_button = QPushButton("Load", objectName="loadButton")
        self.load_button.setToolTip("Load with these settings; the chat waits while it loads")
        self.load_progress = QProgressBar(objectName="loadProgress", minimum=0, maximum=100)
        self.load_progress.setVisible(False)
        form = QFormLayout()
        form.addRow("Folder", folder_row)
        form.addRow("Hugging Face", repo_row)
        form.addRow("", self.download_label)
        form.addRow("Precision", self.precision_combo)
        form.addRow("Context", self.context_spin)
        form.addRow("Estimate", self.estimate_label)
        layout = QVBoxLayout(box)
        layout.addLayout(form)
        layout.addWidget(self.load_button)
        layout.addWidget(self.load_progress)
        self.browse_button.clicked.connect(self.browse)
        self.download_button.clicked.connect(self._download_clicked)
        self.repo_edit.returnPressed.connect(self._download_clicked)
        self.cancel_download_button.clicked.connect(self.download_cancel_requested)
        self.folder_edit.editingFinished.connect(self._options_edited)
        self.precision_combo.currentTextChanged.connect(self._options_edited)
        self.context_spin.valueChanged.connect(self._options_edited)
        self.load_button.clicked.connect(self._load_clicked)
        return box

    # --- what the user picked ----------------------------------------------------------------------------
    def chosen_options(self) -> tuple[str | None, str, int | None]:
        folder = self.folder_edit.text().strip() or None
        if folder is not None and self.current_model_path and Path(folder) == Path(self.current_model_path):
            folder = None
        return folder, self.precision_combo.currentText(), self.context_spin.value() or None

    def set_folder(self, folder: str | Path) -> None:
        self.folder_edit.setText(str(folder))
        self._options_edited()

    def set_precision(self, precision: str) -> None:
        self.precision_combo.setCurrentText(precision)

    def browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a model folder", self.folder_edit.text())
        if folder:
            self.set_folder(folder)

    def _options_edited(self, *_: Any) -> None:
        if not self.remote:
            self.estimate_label.setText("estimating…")
            self._estimate_timer.start()

    def _emit_options(self) -> None:
        self.options_changed.emit(*self.chosen_options())

    def _load_clicked(self) -> None:
        self.load_requested.emit(*self.chosen_options())

    def _download_clicked(self) -> None:
        repo = self.repo_edit.text().strip()
        if repo:
            self.download_requested.emit(repo)

    # --- showing -----------------------------------------------------------------------------------------
    def show_status(self, status: EngineStatus) -> None:
        """The engine's status: the loaded model, its plan and the memory it measured."""
        self._last_status = status
        model, plan = status.model, status.plan or {}
        if model is None:
            self.name_label.setText("No model loaded")
            self.details_label.setText(status.load.error or "")
        else:
            self.current_model_path = model.path
            self.name_label.setText(model.id)
            self.details_label.setText(
                f"{model.architecture} · {parameters_text(model.parameters)} · {model.layers} layers · "
                f"context {model.context_tokens:,} of {model.max_position_embeddings:,} tokens\n{model.path}")
            self.folder_edit.setPlaceholderText(model.path)
        if plan:
            with QSignalBlocker(self.precision_combo):  # the loaded choice; no estimate request for it
                self.precision_combo.setCurrentText(str(plan.get("requested") or "auto"))
            self.plan_label.setText(
                f"<b>{plan.get('precision')}</b> on <b>{plan.get('device')}</b> · compute {plan.get('compute_dtype')}"
                f" · KV cache {plan.get('kv_dtype')} · {plan.get('context_tokens', 0):,}-token context"
                + (f" · requested {plan.get('requested')}" if plan.get("requested") not in (None, "auto") else ""))
            reasons = list(plan.get("reasons") or []) + list(status.notes or [])
            self.reasons_label.setText("<ul style='margin-left:-20px'>" + "".join(
                f"<li>{_escape(r)}</li>" for r in reasons) + "</ul>")
        self.cpu_speed_button.setVisible(plan.get("device") == "cpu" and not self.remote)
        self._show_memory(status.memory.rss_bytes, status.memory.vram_allocated_bytes)
        self.load_button.setEnabled(True)

    def show_measured(self, event: EngineEvent) -> None:
        self._show_memory(event.rss_bytes, event.vram_allocated_bytes)

    def _show_memory(self, rss: int, vram: int | None) -> None:
        status = self._last_status
        plan = (status.plan or {}) if status is not None else {}
        estimate = (plan.get("estimate") or {}).get("total_bytes")
        budget = plan.get("budget_bytes")
        measured = f"VRAM {gib(vram)}, RSS {gib(rss)}" if vram is not None else f"RSS {gib(rss)}"
        self.memory_label.setText(f"Estimated {gib(estimate)} of {gib(budget)} free · measured {measured}"
                                  if estimate else f"Measured {measured}")

    def show_model_card(self, markdown: str | None) -> None:
        summary = model_card_summary(markdown or "")
        self.summary_label.setText(summary)
        self.summary_label.setVisible(bool(summary))
        if markdown:
            document = self.card.document()
            document.setMarkdown(model_card_markdown(markdown), QTextDocument.MarkdownFeature.MarkdownDialectGitHub)
        else:
            self.card.setPlainText("This model folder has no README (model card).")

    def show_estimate(self, result: PlanResult | None, error: str | None = None) -> None:
        if result is None:
            self.estimate_label.setText(error or "")
            self.estimate_label.setToolTip(error or "")
            return
        self.estimate_label.setText(estimate_text(result))
        self.estimate_label.setToolTip(result.message or "\n".join((result.plan or {}).get("reasons") or []))
        self.estimate_label.setProperty("fits", result.fits)

    def set_load_progress(self, fraction: float | None, text: str = "") -> None:
        """None hides the bar (the load ended); otherwise 0..1 with a caption."""
        loading = fraction is not None
        self.load_progress.setVisible(loading)
        self.load_button.setEnabled(not loading and not self.remote)
        if loading:
            self.load_progress.setValue(int(round(fraction * 100)))
            self.load_progress.setFormat(f"{text} %p%" if text else "%p%")

    def set_download_progress(self, text: str, fraction: float | None, running: bool) -> None:
        self.download_label.setVisible(bool(text))
        self.download_label.setText(text)
        self.download_button.setVisible(not running)
        self.cancel_download_button.setVisible(running)
        self.repo_edit.setEnabled(not running)

    def set_no_engine(self, message: str) -> None:
        """No engine to ask (starting, no model, failed): the model part says why; folders can still be picked."""
        self.remote = False
        self._last_status = None
        self.name_label.setText("No model loaded")
        self.details_label.setText(message)
        self.card.clear()
        self.plan_label.setText("")
        self.memory_label.setText("")
        self.reasons_label.setText("")
        self.estimate_label.setText("")
        self.cpu_speed_button.setVisible(False)
        self._set_load_controls(True)

    def set_remote(self, url: str, model: str | None) -> None:
        """A remote OpenAI-compatible server: no plan, no precision, no reload; said plainly."""
        self.remote = True
        self._last_status = None
        self.name_label.setText(model or "Remote model")
        self.details_label.setText(f"served by {url}")
        self.card.setPlainText(f"The model card is {UNAVAILABLE}.")
        self.plan_label.setText(f"Precision plan: {UNAVAILABLE} (the server chose it)")
        self.memory_label.setText(f"Memory: {UNAVAILABLE}")
        self.reasons_label.setText("")
        self.estimate_label.setText(UNAVAILABLE)
        self.cpu_speed_button.setVisible(False)
        self.cpu_speed_label.setVisible(False)
        self._set_load_controls(False)

    def set_local(self) -> None:
        self.remote = False
        self._set_load_controls(True)

    def _set_load_controls(self, enabled: bool) -> None:
        for widget in (self.folder_edit, self.browse_button, self.precision_combo, self.context_spin,
                       self.load_button, self.repo_edit, self.download_button):
            widget.setEnabled(enabled)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
