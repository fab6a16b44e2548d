"""Build, cache and load the fused CPU kernels of ``kernels.c`` (the ``impl="fused"`` paths).

The kernels are plain C with OpenMP, compiled on first use with the machine's C compiler
(``$CC``, else ``cc``) for this CPU (``-O3 -march=native``; ``-ffp-contract=off`` keeps one IEEE
rounding per operation), and loaded with :mod:`ctypes`. The shared library is cached under
``$OPTIMSPEC_CACHE_DIR`` (default ``$XDG_CACHE_HOME/optimspec``, i.e. ``~/.cache/optimspec``),
keyed by the source, the flags, the compiler's version and the CPU's features, and written
atomically, so a build happens once per machine (about a second) and concurrent processes never
see a half-written file. OpenMP is torch's own runtime (already loaded by ``import torch``), so the
kernels use ``torch.get_num_threads()`` threads.

Where no compiler is available or the build fails, :func:`library` returns ``None`` after one
warning line, and the fused paths run their compiler-free equivalents (AdamW: ``foreach``,
Adafactor: ``per_tensor``), which compute the same step up to rounding. ``OPTIMSPEC_KERNELS=0`` skips
the build (and the warning).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).with_name("kernels.c")
FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-fopenmp", "-fPIC")
#: (REAL, SUFFIX) pairs: the source is compiled once per float type.
VARIANTS = (("float", "f32"), ("double", "f64"))
DISABLE_ENV = "OPTIMSPEC_KERNELS"
CACHE_ENV = "OPTIMSPEC_CACHE_DIR"


@dataclass(frozen=True)
class BuildInfo:
    """How the kernels were obtained in this process (reported by the benchmarks)."""

    path: str
    seconds: float  # compile time; 0.0 when the library came from the cache
    cached: bool


_lock = threading.Lock()
_state: dict[str, object] = {}  # "library": CDLL | None, "info": BuildInfo | None


def cache_dir() -> Path:
    """Where built libraries are kept."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "optimspec"


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CC") or "cc")


def _cpu_features() -> str:
    """The CPU's feature flags (what ``-march=native`` compiles for), so each CPU gets its own build."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return next((line for line in info if line.startswith(("flags", "Features"))), "")
    except OSError:
        return platform.processor()


def _key(compiler: str) -> str:
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=True).stdout
    digest = hashlib.sha256()
    for part in (SOURCE.read_bytes(), " ".join(FLAGS).encode(), version.encode(), platform.machine().encode(), _cpu_features().encode()):
        digest.update(part)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _build(compiler: str, target: Path) -> None:
    """Compile both variants and link them into ``target`` (written atomically)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        objects = []
        for real, suffix in VARIANTS:
            obj = Path(tmp) / f"kernels_{suffix}.o"
            _run([compiler, *FLAGS, f"-DREAL={real}", f"-DSUFFIX={suffix}", "-c", str(SOURCE), "-o", str(obj)])
            objects.append(str(obj))
        partial = Path(tmp) / target.name
        _run([compiler, "-shared", "-fopenmp", *objects, "-o", str(partial), "-lm"])
        os.chmod(partial, 0o755)
        os.replace(partial, target)


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"`{' '.join(command)}` failed: {done.stderr.strip().splitlines()[-1:] or done.returncode}")


def _open(path: Path) -> ctypes.CDLL:
    import torch  # noqa: F401  (torch's OpenMP runtime must be loaded first, so the kernels share it)

    library = ctypes.CDLL(str(path))
    _declare(library)
    return library


def _load() -> ctypes.CDLL | None:
    if os.environ.get(DISABLE_ENV, "").strip() == "0":
        return None
    compiler = _compiler()
    try:
        if compiler is None:
            raise RuntimeError(f"no C compiler ({os.environ.get('CC') or 'cc'}) on PATH")
        target = cache_dir() / f"kernels-{_key(compiler)}.so"
        cached = target.exists()
        start = time.perf_counter()
        try:
            if not cached:
                _build(compiler, target)
            library = _open(target)
        except OSError:  # an unwritable cache: build for this process only, and leave nothing behind
            with tempfile.TemporaryDirectory(prefix="optimspec-kernels-") as scratch:
                target = Path(scratch) / target.name
                _build(compiler, target)
                library = _open(target)  # the mapping outlives the file
            cached = False
    except (OSError, RuntimeError, subprocess.SubprocessError) as error:
        warnings.warn(
            f"optimspec.torch: the fused CPU kernels are not available ({error}); impl='fused' runs the "
            f"compiler-free paths (the same step up to rounding, slower). Set {DISABLE_ENV}=0 to skip the "
            "build and this warning.",
            RuntimeWarning,
            stacklevel=4,
        )
        return None
    _state["info"] = BuildInfo(str(target), 0.0 if cached else time.perf_counter() - start, cached)
    return library


def library() -> ctypes.CDLL | None:
    """The loaded kernels, building them on first use; ``None`` where they cannot be built."""
    if "library" not in _state:
        with _lock:
            if "library" not in _state:
                _state["library"] = _load()
    return _state["library"]  # type: ignore[return-value]


def build_info() -> BuildInfo | None:
    """How :func:`library` got the kernels (``None`` before the first use or without kernels)."""
    library()
    return _state.get("info")  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------------
# C signatures
# --------------------------------------------------------------------------------------------------

Pointers = ctypes.POINTER(ctypes.c_void_p)
Int64s = ctypes.POINTER(ctypes.c_int64)
Doubles = ctypes.POINTER(ctypes.c_double)


class AdafactorTensor(ctypes.Structure):
    """``adafactor_tensor`` of kernels.c (pointers are the same for both float types)."""

    _fields_ = [
        ("numel", ctypes.c_int64),
        ("batch", ctypes.c_int64),
        ("rows", ctypes.c_int64),
        ("cols", ctypes.c_int64),
        ("factored", ctypes.c_int),
        ("param", ctypes.c_void_p),
        ("grad", ctypes.c_void_p),
        ("row", ctypes.c_void_p),
        ("col", ctypes.c_void_p),
        ("sq", ctypes.c_void_p),
        ("exp_avg", ctypes.c_void_p),
        ("rho", ctypes.c_double),
        ("beta2t", ctypes.c_double),
        ("rms", ctypes.c_double),
    ]


class AdafactorHparams(ctypes.Structure):
    """``adafactor_hparams`` of kernels.c."""

    _fields_ = [
        ("eps1", ctypes.c_double),
        ("eps2", ctypes.c_double),
        ("clip_threshold", ctypes.c_double),
        ("beta1", ctypes.c_double),
        ("weight_decay", ctypes.c_double),
        ("scale_parameter", ctypes.c_int),
        ("has_beta1", ctypes.c_int),
    ]


def _declare(library: ctypes.CDLL) -> None:
    for _, suffix in VARIANTS:
        adamw = getattr(library, f"adamw_{suffix}")
        adamw.restype = None
        adamw.argtypes = [
            ctypes.c_int64, Pointers, Pointers, Pointers, Pointers, Int64s, Doubles,
            ctypes.c_double, ctypes.c_double, ctypes.c_double, ctypes.c_double, ctypes.c_int,
        ]
        adafactor = getattr(library, f"adafactor_{suffix}")
        adafactor.restype = ctypes.c_int
        adafactor.argtypes = [ctypes.c_int64, ctypes.POINTER(AdafactorTensor), ctypes.POINTER(AdafactorHparams)]


def pointers(tensors: list) -> ctypes.Array:
    """A C array of the tensors' data pointers."""
    return (ctypes.c_void_p * len(tensors))(*[t.data_ptr() for t in tensors])


def suffix_of(dtype: object) -> str:
    """``"f32"`` or ``"f64"``: the kernel variant for a torch dtype (only those two are eligible)."""
    import torch

    return "f64" if dtype == torch.float64 else "f32"


__all__ = ["AdafactorHparams", "AdafactorTensor", "BuildInfo", "build_info", "cache_dir", "library", "pointers", "suffix_of"]
