"""What the engine runs on, as data: ``HardwareInfo``, and the facts readable without torch (CPU name and
instruction sets, RAM, this process's peak memory).

The precision planner (``core.precision``) turns a ``HardwareInfo`` into a decision and the window shows it
(it arrives as JSON from the engine); the probe that fills one in, which needs torch (CUDA, MPS, a measured
matmul), is ``core.engine.hardware_probe``.
"""

from __future__ import annotations

import logging
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

logger = logging.getLogger(__name__)

# ISA features that matter for LLM matmuls on CPU (names as Linux spells them in /proc/cpuinfo).
CPU_FLAGS_OF_INTEREST = ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "amx_bf16",
                         "amx_int8", "avx512_vnni", "avx_vnni", "avx512_fp16", "amx_fp16")


@dataclass(frozen=True, slots=True)
class HardwareInfo:
    """What the engine can run on. Memory fields describe the device that would hold the weights."""

    device: str  # "cuda" | "mps" | "cpu"
    device_name: str
    total_memory_bytes: int  # VRAM on a GPU, RAM on CPU (and on MPS: unified memory)
    free_memory_bytes: int  # free VRAM on a GPU, available RAM (psutil) on CPU
    compute_capability: tuple[int, int] | None = None
    supports_bf16: bool = False  # natively, not emulated
    supports_fp16: bool = False
    cpu_name: str = ""
    cpu_flags: tuple[str, ...] = ()  # subset of CPU_FLAGS_OF_INTEREST
    physical_cores: int | None = None
    logical_cores: int | None = None
    ram_total_bytes: int = 0
    ram_available_bytes: int = 0
    torch_version: str = ""
    num_threads: int = 1
    cpu_bf16_faster: bool | None = None  # measured bf16 vs fp32 matmul speed; None = not measured
    cpu_bf16_speedup: float | None = None  # fp32 time / bf16 time of that measurement
    cpu_speed_measured_at: float | None = None  # unix time it was measured (kept per machine since)
    cpu_speed_note: str = ""  # "kept", "measured", or why it was not measured
    # that measurement's int8/int4 products, seconds of a 1-row plus a 4-row product: (("int8/bf16", 0.0011), ...)
    cpu_quant_seconds: tuple[tuple[str, float], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def is_gpu(self) -> bool:
        return self.device in ("cuda", "mps")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["compute_capability"] = list(self.compute_capability) if self.compute_capability else None
        out["cpu_flags"] = list(self.cpu_flags)
        out["notes"] = list(self.notes)
        out["cpu_quant_seconds"] = [list(pair) for pair in self.cpu_quant_seconds]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HardwareInfo:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        cc = known.get("compute_capability")
        known["compute_capability"] = tuple(cc) if cc else None
        known["cpu_flags"] = tuple(known.get("cpu_flags") or ())
        known["notes"] = tuple(known.get("notes") or ())
        known["cpu_quant_seconds"] = tuple((str(k), float(v)) for k, v in known.get("cpu_quant_seconds") or ())
        return cls(**known)


def cpu_has_native_bf16(flags: tuple[str, ...]) -> bool:
    return any(f in flags for f in ("avx512_bf16", "amx_bf16", "bf16"))


def cpu_has_native_fp16() -> bool:
    """fp16 arithmetic in hardware: on x86 only with AVX512-FP16 or AMX-FP16 (without them torch's CPU fp16
    matmul is a slow fallback); 64-bit ARM cores (Apple silicon, Graviton, ...) have it."""
    if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86"):
        return any(f in cpu_name_and_flags()[1] for f in ("avx512_fp16", "amx_fp16"))
    return True


def cpu_name_and_flags() -> tuple[str, tuple[str, ...]]:
    """Best effort: /proc/cpuinfo on Linux, sysctl on macOS, platform elsewhere. ``PONDER_CPU_FLAGS`` (a comma
    list, for measurements) keeps only the flags it names: ``avx2,fma,f16c`` plans and picks kernels as on an
    AVX2-only CPU."""
    name, raw_flags = "", set()
    if sys.platform.startswith("linux"):
        try:
            for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not name:
                    name = value.strip()
                elif key in ("flags", "Features") and not raw_flags:
                    raw_flags = set(value.split())
        except OSError as exc:
            logger.info("cannot read /proc/cpuinfo: %s", exc)
    elif sys.platform == "darwin":
        name = _sysctl("machdep.cpu.brand_string")
        if _sysctl("hw.optional.arm.FEAT_BF16") == "1":
            raw_flags.add("bf16")
    flags = [f for f in CPU_FLAGS_OF_INTEREST if f in raw_flags]
    if "bf16" in raw_flags:  # aarch64 (Linux "Features" or macOS sysctl)
        flags.append("bf16")
    if only := os.environ.get("PONDER_CPU_FLAGS"):
        kept = {f.strip().lower() for f in only.split(",")}
        flags = [f for f in flags if f in kept]
    return name or platform.processor() or platform.machine() or "unknown CPU", tuple(flags)


def _sysctl(key: str) -> str:
    try:
        return subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=2).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far (ru_maxrss on POSIX, peak working set on Windows)."""
    try:
        import resource
    except ImportError:  # Windows
        return int(getattr(psutil.Process().memory_info(), "peak_wset", 0))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def host_hardware_info() -> HardwareInfo:
    """This computer's CPU and RAM, read without torch: what the window judges models by until the engine has
    reported its device (only the engine's probe sees a GPU, and measures whether bf16 is faster here)."""
    mem = psutil.virtual_memory()
    cpu_name, flags = cpu_name_and_flags()
    return HardwareInfo(device="cpu", device_name=cpu_name, total_memory_bytes=mem.total,
                        free_memory_bytes=mem.available, supports_bf16=cpu_has_native_bf16(flags), supports_fp16=True,
                        cpu_name=cpu_name, cpu_flags=flags, physical_cores=psutil.cpu_count(logical=False),
                        logical_cores=psutil.cpu_count(logical=True), ram_total_bytes=mem.total,
                        ram_available_bytes=mem.available,
                        notes=("CPU and RAM only: the engine has not reported its device yet",))
