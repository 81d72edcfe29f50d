"""Every environment variable and tuning knob of convcli, read in one place.

Standard library only, so any module may import it without cost.  The byte
sizes below were measured on the project's 2-core benchmark machine (AMD EPYC
Zen 3, 512 KB L2 per core, 32 MB L3); each comment says how.  Modules read
them as ``config.NAME`` at call time, so a test (or a user with unusual
caches) can change one with ``monkeypatch.setattr(config, NAME, value)``.

Environment variables:

``CONVCLI_THREADS``
    Worker threads of the engine's pool (default: the number of CPU cores).
``CONVCLI_KERNEL_PATH``
    Extra preset folders, separated by ``os.pathsep`` (``:`` on POSIX);
    a user preset wins over a built-in one of the same name.
``CONVCLI_MAX_*``
    Resource limits: see :data:`LIMITS` (and ``convcli filter --help``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from convcli.errors import OptionError

THREADS_ENV = "CONVCLI_THREADS"
KERNEL_PATH_ENV = "CONVCLI_KERNEL_PATH"


def default_threads() -> int:
    """Worker threads: ``CONVCLI_THREADS`` if set, else the number of CPU cores.

    Raises
    ------
    OptionError
        If ``CONVCLI_THREADS`` is set but is not a positive integer.
    """
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n < 1:
            msg = f"{THREADS_ENV} must be a positive integer; got {env!r}"
            raise OptionError(msg)
        return n
    return os.cpu_count() or 1


def kernel_path_entries() -> list[str]:
    """The non-empty folders named by ``CONVCLI_KERNEL_PATH``, in order, as written."""
    return [p.strip() for p in os.environ.get(KERNEL_PATH_ENV, "").split(os.pathsep) if p.strip()]


# --- engine: strips of output rows --------------------------------------------------------

#: Target size of one strip of output rows (bytes of the strip's float input) for the
#: separable, box and gemm methods.  Measured on this 2-core machine (2160x3840x3
#: float32, 2 threads, median ms for 3x3 / 5x5 / 15x15, when strips still read a padded
#: copy): 192 KB 224/464/3561, 512 KB 126/232/1295, 1 MB 123/202/1470, 2 MB
#: 107/177/1194.  Small strips lose to per-task thread overhead.
STRIP_BYTES = 1024 * 1024

#: The same for the direct method, whose strips pad their own input rows:
#: sharpen / 3x3 random / 5x5 random, median ms of 7, two sweeps:
#: 1 MB 69-61/81-82/182-176, 1.5 MB 60/80-79/154-151, 2 MB 56-62/71-68/147-146,
#: 3 MB 70-62/102-96/242-206.
DIRECT_STRIP_BYTES = 2 * 1024 * 1024

#: The same for the einsum method (its output strip) and for the fused separable
#: passes (their padded-width intermediate).  Per einsum call NumPy sets up an
#: iterator, so larger strips pay: rows per strip vs ms, 3x3 random einsum 8 129,
#: 16 86, 22 73, 32 66, 45 64, 64 61, 90 61; 9x9 gaussian fused separable 8 143,
#: 16 100, 22 100, 32 85, 45 92, 64 92, 5x5 16 80, 32 66, 45 68, 64 73 (one row is
#: 46 KB here).
EINSUM_STRIP_BYTES = 3 * 1024 * 1024
FUSED_STRIP_BYTES = 3 * 1024 * 1024 // 2

#: OpenBLAS starts its own threads for a product whose M*N*K exceeds 65536 * 4;
#: those threads then fight the engine's pool (measured 3x3: 82 ms against 58 ms
#: single-threaded).  The ``gemm`` method splits its products into column chunks
#: under this size, passed as one batched call.
GEMM_CHUNK_MNK = 65536 * 4

# --- filters: bands of a large image -------------------------------------------------------

#: Float working set of one band when large images are filtered band by band, in
#: bytes.  On the 3840x2160 RGB PNG with a 3x3 kernel, peak RSS of the whole
#: ``convcli filter`` was 131 MB with 8 MiB bands and 117 MB with 4 MiB, at the same
#: speed (the 32 MiB used before peaked at 208 MB).
BAND_BYTES = 4 << 20

# --- gradients -----------------------------------------------------------------------------

#: Target size of one strip of ``grad_out`` in the strided input gradient (scatter-adds
#: tap by tap), in bytes.  Larger than the forward's strips: a tap's work per strip is
#: one product and an add, so per-call overhead dominates small strips (4K RGB float32,
#: 2 cores, when the kernel gradient ran this way too: 15x15 3.1 s with 192 KB strips,
#: 1.2 s with 1 MB).
GRAD_STRIP_BYTES = 1024 * 1024

#: Upper bound on the size of one im2col tile when fitting a kernel (bytes).
FIT_TILE_BYTES = 4 * 1024 * 1024

# --- images --------------------------------------------------------------------------------

#: Images larger than this (bytes of pixels) are copied out of Pillow in bands of
#: rows: ``np.array(im)`` holds Pillow's image, a bytes copy and the array at once
#: (126 MB peak RSS for a 3840x2160 RGB PNG, against 105 MB in bands).
WHOLE_COPY_BYTES = 8 << 20
#: Bytes of pixels per band of that copy.
COPY_BAND_BYTES = 1 << 20

#: Filtered bytes per independently deflated part of a PNG.  256 KiB keeps the
#: working set of two threads near 10 MB (1 MiB parts peaked 30 MB higher in RSS on
#: the 4K benchmark) at the same speed, and costs under 0.1% in size (deflate's
#: window is 32 KiB).
PNG_PART_BYTES = 1 << 18

# --- resource limits (in the style of ImageMagick's policy.xml) ---------------------------
#
# Each limit has a default safe on a 24 GB machine and an environment variable that
# changes it (a plain integer, or with a K/M/G/T suffix for byte sizes: powers of 1024).
# ``convcli filter --help`` and the README list them; ``--max-pixels`` and ``--max-memory``
# override the two most often changed ones per command.

GIB = 1 << 30


@dataclass(frozen=True)
class Limit:
    """One resource limit: its environment variable, default, unit and meaning."""

    env: str
    default: int
    unit: str
    what: str


LIMITS: dict[str, Limit] = {
    "frames_pixels": Limit(
        "CONVCLI_MAX_FRAMES_PIXELS",
        178_956_970,
        "pixels",
        "pixels of all frames kept together (--all-frames); Pillow's bomb limit",
    ),
    "input_bytes": Limit(
        "CONVCLI_MAX_INPUT_BYTES",
        1 * GIB,
        "bytes",
        "bytes read from stdin, a FIFO or a process substitution",
    ),
    "kernel_file_bytes": Limit(
        "CONVCLI_MAX_KERNEL_FILE_BYTES",
        32 << 20,
        "bytes",
        "bytes of a text or TOML kernel file (a .npy kernel is checked from its header)",
    ),
    "kernel_taps": Limit("CONVCLI_MAX_KERNEL_TAPS", 16_000_000, "weights", "weights of one kernel"),
    "output_pixels": Limit(
        "CONVCLI_MAX_OUTPUT_PIXELS",
        4 * 178_956_970,
        "pixels",
        "pixels of a padded input or of an output (huge --padding or --dilation)",
    ),
    "memory": Limit(
        "CONVCLI_MAX_MEMORY",
        8 * GIB,
        "bytes",
        "memory one command may plan to use (filter, grad, fit), estimated before work",
    ),
}

_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str, label: str) -> int:
    """A positive integer, with an optional K/M/G/T suffix (powers of 1024; ``B`` allowed).

    Examples
    --------
    >>> parse_size("8G", "--max-memory"), parse_size("512MiB", "x"), parse_size("1000", "x")
    (8589934592, 536870912, 1000)
    """
    raw = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = raw[-1:] if raw[-1:] in _SUFFIXES else ""
    number = raw[: len(raw) - len(unit)] if unit else raw
    try:
        value = int(number) * _SUFFIXES[unit]
    except ValueError:
        value = 0
    if value < 1 or len(number) > 30:
        msg = f"{label} must be a positive size such as 8G, 512M or 1000000; got {text!r}"
        raise OptionError(msg)
    return value


def limit(name: str) -> int:
    """The value of the limit ``name`` (a key of :data:`LIMITS`): its variable, else its default.

    Raises
    ------
    OptionError
        If the environment variable is set but is not a positive size.
    """
    spec = LIMITS[name]
    env = os.environ.get(spec.env, "").strip()
    return parse_size(env, spec.env) if env else spec.default


def describe_size(n: int, unit: str = "bytes") -> str:
    """``n`` for a message: bytes as ``8.0 GiB``, other units with thousands separators."""
    if unit != "bytes":
        return f"{n:,} {unit}"
    units = (("PiB", 1 << 50), ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1024))
    for suffix, size in units:
        if n >= size:
            return f"{n / size:.1f} {suffix}"
    return f"{n} bytes"


def limits_help() -> str:
    """One line per limit (variable, default, meaning), for ``--help`` and the README."""
    return "; ".join(
        f"{s.env}={describe_size(s.default, s.unit)} ({s.what})" for s in LIMITS.values()
    )
