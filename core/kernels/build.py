"""Compile ``gemv.c`` for this CPU's instruction set and load it, or say why it cannot be used.

The kernels are C compiled by the system's C compiler at first use (a second or two) and kept in the cache
folder, keyed by the source and the instruction set, so later starts only load them. A bundle ships them
prebuilt (``PONDER_KERNELS_DIR``, filled by ``build_scripts/bundle_layout.prebuilt_kernels``). Where neither a prebuilt
library nor a compiler exists, or the CPU has none of the instruction sets below, the engine runs torch's
kernels and the plan says so: decode is slower, nothing else changes.

``PONDER_KERNELS`` picks for measurements and tests: ``off``, or an instruction set this CPU has
(``avx2`` on an AVX-512 machine measures what an AVX2-only laptop gets).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from core.hardware import cpu_has_native_bf16, cpu_name_and_flags
from core.paths import default_cache_dir

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("gemv.c")
# Compiler flags per instruction set, best first; each needs all of its CPU flags.
_AVX512 = (("avx512f", "avx512bw", "avx512vl", "fma", "f16c"),
           ("-mavx512f", "-mavx512bw", "-mavx512vl", "-mfma", "-mf16c"))
_AVX2 = (("avx2", "fma", "f16c"), ("-mavx2", "-mfma", "-mf16c"))
ISA_FLAGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "avx512_bf16": ((*_AVX512[0], "avx512_vnni", "avx512_bf16"), (*_AVX512[1], "-mavx512vnni", "-mavx512bf16")),
    "avx512_vnni": ((*_AVX512[0], "avx512_vnni"), (*_AVX512[1], "-mavx512vnni")),
    "avx512": _AVX512,
    "avx2_vnni": ((*_AVX2[0], "avx_vnni"), (*_AVX2[1], "-mavxvnni")),
    "avx2": _AVX2,
    "neon": (("neon",), ()),  # the aarch64 baseline: no flag needed
}
ISA_LABELS = {"avx512_bf16": "AVX-512 BF16 + VNNI", "avx512_vnni": "AVX-512 VNNI", "avx512": "AVX-512",
              "avx2_vnni": "AVX2 + AVX-VNNI", "avx2": "AVX2", "neon": "NEON"}


@dataclass(frozen=True, slots=True)
class Kernels:
    lib: ctypes.CDLL
    isa: str
    path: Path
    # per weight kind, the most rows of x a product sends here (``max_rows``); beyond, torch's GEMM is faster
    max_rows: dict[str, int] = field(default_factory=dict)

ALL_ROWS = 1 << 62  # a kernel that takes products of any number of rows


def max_rows(flags: tuple[str, ...]) -> dict[str, int]:
    """Where the kernels stop paying, per weight kind. They read the weights once for all rows but multiply
    in fp32 FMAs (bf16 times bf16 on AVX-512 BF16: vdpbf16ps), so from a few rows on they are compute-bound;
    torch's GEMM with native bf16 dot products (AVX-512 BF16, AMX) then wins for bf16 and int8 weights.
    Measured on a 2-core EPYC (Zen 4), one layer of R1-Distill-Qwen-1.5B plus its LM head, ours / torch: bf16
    1.5x faster at 1-3 rows, 1.3x at 4 (vdpbf16ps: 4 rows cost 1.25x one row), about even at 8; int8 1.6x at
    1 row, 1.05x at 2, 0.8x at 3. Without native bf16 (torch's AVX2 kernels on the same CPU) bf16 stays
    1.3-2.3x faster up to 8 rows and int8 about even at 4-8. fp16 beats torch's fp16 GEMM at every row count
    below the fp32-widening threshold; int4 in Ponder's layout has no torch kernel, so the kernel runs up to
    16 rows and wider products dequantise blocks of rows for torch's GEMM.

    On x86 without native bf16 the int8 and int4 kernels multiply bytes (``INT_DOT``), and the alternative for
    a prefill is an fp32 GEMM over dequantised weights: there they take every row count (in blocks of
    ``ops.ROW_BLOCK``). Measured on a 2-core EPYC (Zen 3, AVX2), 128 rows of bf16 activations, in one run: int4
    153-165 against 117 GFLOPS for 17920x1536, 96-101 against 75 for 1536x8960; int8 140 against 105 and 88
    against 71 (llama.cpp multiplies int8 activations for its Q4_0 and Q8_0 prefill too)."""
    native_bf16 = cpu_has_native_bf16(flags)
    if "avx2" in flags and not native_bf16:
        return {"bf16": 16, "fp16": 16, "int8": ALL_ROWS, "int4": ALL_ROWS}
    return {"bf16": 4 if native_bf16 else 16, "fp16": 16, "int8": 2 if native_bf16 else 4, "int4": 16}


@dataclass(frozen=True, slots=True)
class KernelStatus:
    """The loaded kernels, or None and the reason (shown in the plan)."""

    kernels: Kernels | None
    reason: str


def cpu_isas(flags: tuple[str, ...] | None = None, machine: str | None = None) -> list[str]:
    """The instruction sets of ``ISA_FLAGS`` this CPU runs, best first."""
    machine = (machine or platform.machine()).lower()
    if machine in ("arm64", "aarch64"):
        return ["neon"]
    flags = flags if flags is not None else cpu_name_and_flags()[1]
    return [isa for isa, (need, _) in ISA_FLAGS.items() if isa != "neon" and all(f in flags for f in need)]


def library_name(isa: str) -> str:
    digest = hashlib.sha256(SOURCE.read_bytes() + isa.encode()).hexdigest()[:16]
    return f"ponder_kernels_{isa}_{digest}{'.dll' if os.name == 'nt' else '.so'}"


def compile_library(isa: str, out_dir: Path, compiler: str | None = None) -> Path:
    """Compile ``gemv.c`` for ``isa`` into ``out_dir``; raises RuntimeError with the compiler's words."""
    cc = compiler or os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise RuntimeError("no C compiler found (install gcc or clang for Ponder's faster decode kernels)")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / library_name(isa)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    openmp = [] if platform.system() == "Darwin" else ["-fopenmp"]  # Apple's clang has no OpenMP
    cmd = [cc, "-O3", "-shared", "-fPIC", *openmp, *ISA_FLAGS[isa][1], str(SOURCE), "-o", str(tmp), "-lm"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"compiling the kernels failed: {' '.join(cmd)}\n{done.stderr.strip()[-2000:]}")
    os.replace(tmp, target)
    return target


def _bind(path: Path, isa: str) -> Kernels:
    lib = ctypes.CDLL(str(path))
    i64, i32, ptr = ctypes.c_int64, ctypes.c_int, ctypes.c_void_p
    lib.ponder_gemv_dense.argtypes = [ptr, i32, ptr, i32, ptr, i32, ptr, i32, i64, i64, i64, i32]
    lib.ponder_gemv_int4.argtypes = [ptr, i32, ptr, ptr, i64, ptr, i32, i64, i64, i64, i32]
    lib.ponder_dequant_int4.argtypes = [ptr, ptr, i64, i64, i64, i64, ptr, i32, i32]
    lib.ponder_attend_one.argtypes = [ptr, ptr, ptr, i32, i64, i64, i64, i64, i64, ctypes.c_float, ptr, i32]
    lib.ponder_rms_norm.argtypes = [ptr, i64, ptr, ptr, i32, ptr, i32, ptr, i64, i64, ctypes.c_float, i32]
    lib.ponder_rope.argtypes = [ptr, i64, ptr, i64, i32, ptr, ptr, i64, i64, i64, i32]
    lib.ponder_silu_mul.argtypes = [ptr, i32, ptr, i64, i64, i32]
    lib.ponder_gemm_f16w.argtypes = [ptr, ptr, i32, ptr, i64, i64, i64, i32]
    lib.ponder_decode_token.argtypes = [ptr, i32, i32, i32, ptr, ptr, ptr, ptr, *[i64] * 8, ctypes.c_float,
                                        ctypes.c_float, i32]
    for fn in (lib.ponder_gemv_dense, lib.ponder_gemv_int4, lib.ponder_dequant_int4, lib.ponder_attend_one,
               lib.ponder_rms_norm, lib.ponder_rope, lib.ponder_silu_mul, lib.ponder_gemm_f16w,
               lib.ponder_decode_token):
        fn.restype = i32
    lib.ponder_kernels_isa.restype = ctypes.c_char_p
    built = lib.ponder_kernels_isa().decode()
    if built != isa:
        raise RuntimeError(f"{path.name} was built for {built}, not {isa}")
    return Kernels(lib, isa, path, max_rows(cpu_name_and_flags()[1]))


def _load(isa: str) -> Kernels:
    name = library_name(isa)
    bundled = os.environ.get("PONDER_KERNELS_DIR")
    if bundled and (Path(bundled) / name).is_file():
        return _bind(Path(bundled) / name, isa)
    cached = default_cache_dir() / "kernels" / name
    if cached.is_file():
        try:
            return _bind(cached, isa)
        except OSError as exc:  # a damaged file in the cache: built again rather than kernels lost for good
            log.warning("recompiling the decode kernels: %s does not load (%s)", cached, exc)
            cached.unlink(missing_ok=True)
    compile_library(isa, cached.parent)
    return _bind(cached, isa)


_lock = threading.Lock()
_status: KernelStatus | None = None


def kernel_status() -> KernelStatus:
    """Load (compiling on first use) the kernels for the best instruction set here; cached per process."""
    global _status
    with _lock:
        if _status is None:
            _status = _find()
        return _status


def _find() -> KernelStatus:
    wanted = os.environ.get("PONDER_KERNELS", "").strip().lower()
    if wanted == "off":
        return KernelStatus(None, "Ponder's decode kernels are off (PONDER_KERNELS=off): torch's kernels run")
    isas = cpu_isas()
    if wanted:
        if wanted not in isas:
            return KernelStatus(None, f"PONDER_KERNELS={wanted}, but this CPU runs only {', '.join(isas) or 'none'}")
        isas = [wanted]
    if not isas:
        return KernelStatus(None, "this CPU has neither AVX2 with FMA nor AVX-512 nor NEON: torch's kernels run")
    failures: list[BaseException] = []
    for isa in isas:  # best first; an older compiler may not know the newest instructions
        try:
            kernels = _load(isa)
            break
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            log.warning("decode kernels for %s unavailable: %s", isa, exc)
            failures.append(exc)
    else:
        return KernelStatus(None, f"Ponder's decode kernels could not be built ({str(failures[0]).splitlines()[0]}): "
                                  "torch's kernels run")
    return KernelStatus(kernels, f"decode: Ponder's {ISA_LABELS[kernels.isa]} kernels, built for this CPU")
