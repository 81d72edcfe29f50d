"""Output file names for a batch (``convcli filter -d OUTDIR``)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["output_path_for"]


def output_path_for(
    input_path: str | Path, outdir: str | Path, *, suffix: str = "", fmt: str | None = None
) -> Path:
    """``OUTDIR/<input stem><suffix>.<fmt or the input's extension>``.

    Examples
    --------
    >>> output_path_for("photos/a.jpg", "out", suffix="-blur", fmt="png").as_posix()
    'out/a-blur.png'
    """
    src = Path(input_path)
    ext = ("." + fmt.lower().lstrip(".")) if fmt else src.suffix
    return Path(outdir) / f"{src.stem}{suffix}{ext}"
