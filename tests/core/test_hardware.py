"""The hardware probe on this machine (a CPU), the cached bf16 measurement, and the CUDA fallback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core.engine import hardware_probe as hardware
from core.engine.hardware_probe import measure_cpu_bf16_speedup, probe
from core.hardware import CPU_FLAGS_OF_INTEREST, HardwareInfo
from core.paths import default_cache_dir


def test_probe_on_this_machine_is_a_sane_cpu(tmp_path: Path) -> None:
    info = probe(cache_path=tmp_path / "bf16.json")
    if torch.cuda.is_available():  # pragma: no cover - the test machines are CPU-only
        pytest.skip("a GPU is present; this test describes the CPU path")
    assert info.device == "cpu"
    assert info.device_name and info.cpu_name
    assert 0 < info.free_memory_bytes <= info.total_memory_bytes == info.ram_total_bytes
    assert info.compute_capability is None
    assert set(info.cpu_flags) <= set(CPU_FLAGS_OF_INTEREST) | {"bf16"}
    assert info.logical_cores and info.logical_cores >= 1
    assert info.num_threads >= 1 and info.torch_version == torch.__version__
    assert isinstance(info.cpu_bf16_faster, bool)
    assert HardwareInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info


def test_bf16_measurement_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "sub" / "bf16.json"
    monkeypatch.setattr(hardware, "_other_load", lambda before: 0.0)  # as if the machine were idle
    first = measure_cpu_bf16_speedup(cache)
    assert first > 0
    entries = json.loads(cache.read_text())
    assert len(entries) == 1 and f"{torch.get_num_threads()} threads" in next(iter(entries))

    def must_not_measure(*args: object) -> float:
        raise AssertionError("measured again instead of reading the cache")

    monkeypatch.setattr(hardware, "_time_matmuls", must_not_measure)
    assert measure_cpu_bf16_speedup(cache) == first
    assert probe("cpu", cache_path=cache).cpu_bf16_faster == (first > hardware.BF16_FASTER_THRESHOLD)


def test_a_corrupt_cache_is_measured_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "bf16.json"
    cache.write_text("{not json")
    monkeypatch.setattr(hardware, "_time_matmuls", lambda: (2.0, 1.0))
    monkeypatch.setattr(hardware, "_other_load", lambda before: 0.0)
    assert measure_cpu_bf16_speedup(cache) == 2.0
    assert list(json.loads(cache.read_text()).values())[0]["speedup"] == 2.0


def test_a_measurement_on_a_busy_cpu_is_used_but_not_cached(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "bf16.json"
    monkeypatch.setattr(hardware, "_time_matmuls", lambda: (1.0, 4.0))
    monkeypatch.setattr(hardware, "_other_load", lambda before: 0.9)
    assert measure_cpu_bf16_speedup(cache) == 0.25
    assert not cache.exists()


def test_a_broken_cuda_driver_falls_back_to_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> bool:
        raise RuntimeError("CUDA driver initialization failed")

    monkeypatch.setattr(torch.cuda, "is_available", broken)
    info = probe(measure_bf16=False)
    assert info.device == "cpu" and info.cpu_bf16_faster is None
    assert any("CUDA driver initialization failed" in note for note in info.notes)


def test_requesting_a_missing_device_falls_back_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    info = probe("cuda", measure_bf16=False)
    assert info.device == "cpu"
    assert any("no CUDA device" in note for note in info.notes)
    with pytest.raises(ValueError, match="unknown device"):
        probe("tpu")


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PONDER_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("PONDER_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "ponder"
