"""The hardware probe on this machine (a CPU), the cached bf16 measurement, and the CUDA fallback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core.engine import cpu_speed
from core.engine.hardware_probe import probe
from core.hardware import CPU_FLAGS_OF_INTEREST, HardwareInfo, cpu_name_and_flags
from core.kernels import build
from core.paths import default_cache_dir
from core.precision import plan
from tests.core.test_precision import QWEN_1_5B


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
    # measured, or (the test machines are often busy) not trusted and said why
    assert isinstance(info.cpu_bf16_faster, bool) or info.cpu_speed_note.startswith("not measured: other programs")
    assert HardwareInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info


def timings(monkeypatch: pytest.MonkeyPatch, fp32_s: float, bf16_s: float, other_load: float) -> list[int]:
    """The probe's matmuls take these times while other programs keep ``other_load`` of the CPU busy (a busy
    machine simulated); returns a list that grows by one per measurement."""
    calls: list[int] = []
    monkeypatch.setattr(cpu_speed, "_time_matmuls", lambda: (calls.append(1), (fp32_s, bf16_s))[1])
    monkeypatch.setattr(cpu_speed, "_other_load", lambda before: other_load)
    return calls


def test_the_measurement_is_kept_per_machine_and_never_repeated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "sub" / "bf16.json"
    timings(monkeypatch, 2.0, 1.0, 0.0)
    first = cpu_speed.cpu_speed(cache)
    assert first.speedup == 2.0 and first.bf16_faster and first.measured_at
    entries = json.loads(cache.read_text())
    assert list(entries) == [cpu_speed.machine_key()] and "threads" not in cpu_speed.machine_key()
    calls = timings(monkeypatch, 1.0, 2.0, 0.0)  # would now say fp32 is faster: never asked
    monkeypatch.setattr(torch, "get_num_threads", lambda: 7)  # another thread count: the same machine
    assert cpu_speed.cpu_speed(cache).speedup == 2.0 and not calls
    info = probe("cpu", cache_path=cache)
    assert info.cpu_bf16_faster is True and info.cpu_bf16_speedup == 2.0 and info.cpu_speed_measured_at


def test_a_busy_cpu_never_flips_the_kept_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "bf16.json"
    timings(monkeypatch, 2.0, 1.0, 0.05)  # measured once on a quiet CPU: bf16 twice as fast
    quiet = plan(QWEN_1_5B, probe("cpu", cache_path=cache))
    assert quiet.precision == "bf16"
    calls = timings(monkeypatch, 1.0, 4.0, 0.9)  # now the CPU is 90% busy and bf16 looks 4x slower
    for _ in range(3):  # start after start
        again = plan(QWEN_1_5B, probe("cpu", cache_path=cache))
        assert again.precision == "bf16" and not calls
    assert "measured on" in again.reasons[0] and "kept for this machine" in again.reasons[0]
    outcome = cpu_speed.remeasure(cache)  # the model panel's "measure again", on the busy CPU
    assert not outcome.replaced and outcome.speed.speedup == 2.0 and "90% busy" in outcome.message
    assert plan(QWEN_1_5B, probe("cpu", cache_path=cache)).precision == "bf16"
    timings(monkeypatch, 1.0, 2.0, 0.0)  # measured again on a quiet CPU: that one replaces the kept one
    assert cpu_speed.remeasure(cache).replaced
    assert plan(QWEN_1_5B, probe("cpu", cache_path=cache)).precision == "fp32"


def test_without_a_kept_measurement_a_busy_cpu_decides_nothing(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "bf16.json"
    timings(monkeypatch, 1.0, 0.5, 0.9)  # bf16 looks faster, but the CPU is busy: not trusted either way
    busy = probe("cpu", cache_path=cache)
    assert busy.cpu_bf16_faster is None and "90% busy" in busy.cpu_speed_note and not cache.exists()
    chosen = plan(QWEN_1_5B, busy)
    assert chosen.precision == "fp32" and "90% busy" in chosen.reasons[0]
    timings(monkeypatch, 1.0, 0.5, 0.0)  # the next start on a quiet CPU measures and keeps it
    assert probe("cpu", cache_path=cache).cpu_bf16_faster is True and cache.exists()


def test_a_corrupt_cache_is_measured_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "bf16.json"
    cache.write_text("{not json")
    timings(monkeypatch, 2.0, 1.0, 0.0)
    assert cpu_speed.cpu_speed(cache).speedup == 2.0
    assert list(json.loads(cache.read_text()).values())[0]["speedup"] == 2.0


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


def test_ponder_cpu_flags_keeps_only_the_flags_it_names(monkeypatch) -> None:
    """Measuring what an AVX2-only CPU gets on a bigger one: the planner and the kernels see only these flags."""
    monkeypatch.setenv("PONDER_CPU_FLAGS", "avx2, fma,F16C")
    _, flags = cpu_name_and_flags()
    assert set(flags) <= {"avx2", "fma", "f16c"}
    assert not [isa for isa in build.cpu_isas() if isa not in ("avx2", "neon")]
