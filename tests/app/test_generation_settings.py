"""Generation settings: what a request carries, what survives a restart, what a hand-edited file can break."""

from __future__ import annotations

import pytest

from PySide6.QtCore import QSettings

from app.dialogs.generation_dialog import GenerationDialog, GenerationSettings


def test_only_what_the_user_set_is_sent():
    assert GenerationSettings().params() == {}
    assert GenerationSettings(top_p=0.95, repetition_penalty=1.1).params() == {"top_p": 0.95, "repetition_penalty": 1.1}
    assert GenerationSettings(grounded_quotes=False).params() == {"ponder": {"grounded_quotes": False}}


def test_settings_round_trip_and_bad_values_fall_back_to_the_models_default(tmp_path):
    path = str(tmp_path / "settings.ini")
    chosen = GenerationSettings(temperature=0.6, top_p=0.95, top_k=40, repetition_penalty=1.05, max_tokens=4096, seed=3,
                                grounded_quotes=False)
    chosen.save(QSettings(path, QSettings.Format.IniFormat))
    assert GenerationSettings.load(QSettings(path, QSettings.Format.IniFormat)) == chosen
    edited = QSettings(path, QSettings.Format.IniFormat)
    for key, value in (("temperature", "hot"), ("top_p", "0"), ("top_k", "-3"), ("max_tokens", "1.5e9"),
                       ("grounded_quotes", "maybe")):
        edited.setValue(f"generation/{key}", value)
    edited.sync()
    assert GenerationSettings.load(QSettings(path, QSettings.Format.IniFormat)) == GenerationSettings(
        repetition_penalty=1.05, seed=3)
    GenerationSettings().save(edited)  # all defaults: the keys are removed, not written as empty values
    edited.sync()
    assert "generation" not in QSettings(path, QSettings.Format.IniFormat).childGroups()


def test_one_step_up_from_the_default_is_a_usual_value_not_the_lowest(qapp):
    dialog = GenerationDialog(GenerationSettings())
    top_p, temperature = dialog.boxes["top_p"], dialog.boxes["temperature"]
    assert top_p.text() == "Model default"
    top_p.stepUp()
    temperature.stepUp()
    assert (top_p.value(), temperature.value()) == (0.95, 0.6)  # not 0.05 and 0.0
    top_p.stepUp()
    assert top_p.value() == 1.0
    top_p.stepDown()
    top_p.stepDown()
    assert top_p.value() == pytest.approx(0.9)
    dialog.deleteLater()


def test_the_dialog_reads_the_lowest_position_and_anything_below_the_range_as_default(qapp):
    dialog = GenerationDialog(GenerationSettings(temperature=0.6, max_tokens=512))
    assert dialog.settings() == GenerationSettings(temperature=0.6, max_tokens=512)
    dialog.boxes["temperature"].setValue(-0.02)  # typed between "Model default" and 0
    dialog.boxes["top_k"].setValue(0)  # 0 is a real value: keep every token
    assert dialog.settings() == GenerationSettings(top_k=0, max_tokens=512)
    for choice in (True, False, None):
        dialog.set_settings(GenerationSettings(grounded_quotes=choice))
        assert dialog.settings().grounded_quotes is choice
    dialog.deleteLater()
