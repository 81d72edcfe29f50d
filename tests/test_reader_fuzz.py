"""Hypothesis fuzz targets, one per reader: kernel specs, TOML, text, ``.npy`` kernels, images.

Each reader must either return a value or raise a :class:`ConvCliError` with
a one-line message (a usage error, exit 2, for kernels); never another
exception, a hang or a multi-line message.  Example counts come from the
Hypothesis profile (conftest.py).
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convcli.errors import ConvCliError, KernelError, UsageError

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _load_file(name: str, data: bytes):
    from convcli.kernelspec import load_kernel

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        return load_kernel(str(path))


def _one_clean_line(exc: BaseException) -> None:
    text = str(exc)
    assert text
    assert "\n" not in text
    assert len(text) < 2000


# -- kernel specs (the -k grammar) --------------------------------------------------------

SPEC_ALPHABET = st.sampled_from(list("0123456789.,;: -+eExX/*[]{}=abcgmnsilotr\t\n_#"))


@FUZZ
@given(st.text(SPEC_ALPHABET, max_size=40) | st.text(max_size=20))
def test_fuzz_kernel_specs(spec):
    from convcli.kernelspec import load_kernel

    try:
        kernel = load_kernel(spec)
    except UsageError as exc:
        _one_clean_line(exc)
        return
    assert np.all(np.isfinite(kernel.weights))


# -- TOML kernels and presets -------------------------------------------------------------

TOML_VALUE = st.recursive(
    st.integers(-(10**30), 10**30).map(str)
    | st.floats(allow_nan=True, allow_infinity=True).map(str)
    | st.text(max_size=5).map(lambda t: '"' + t.replace("\\", "").replace('"', "") + '"')
    | st.booleans().map(lambda b: "true" if b else "false"),
    lambda inner: st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
    max_leaves=30,
)
TOML_KEY = st.sampled_from(
    ["weights", "scale", "offset", "anchor", "name", "category", "description", "other"]
)


@FUZZ
@given(st.dictionaries(TOML_KEY, TOML_VALUE, max_size=5))
def test_fuzz_toml_kernels_structured(table):
    body = "\n".join(f"{k} = {v}" for k, v in table.items())
    try:
        _load_file("k.toml", body.encode())
    except KernelError as exc:
        _one_clean_line(exc)


@FUZZ
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_fuzz_toml_kernels_raw(data):
    try:
        _load_file("k.toml", b"weights = " + data)
    except KernelError as exc:
        _one_clean_line(exc)


@FUZZ
@given(st.integers(1, 3000), st.sampled_from(["[", "{a=", "[[", "x=["]))
def test_fuzz_toml_nesting(depth, opener):
    closer = {"[": "]", "{a=": "}", "[[": "]]", "x=[": "]"}[opener]
    body = "weights = " + opener * depth + "1" + closer * depth
    try:
        _load_file("k.toml", body.encode())
    except KernelError as exc:
        _one_clean_line(exc)


# -- text kernels -------------------------------------------------------------------------

TEXT_ALPHABET = st.sampled_from(list("0123456789.,;:- +eE\n\r\t#xnaif\0\ufeff"))


@FUZZ
@given(
    st.text(TEXT_ALPHABET, max_size=80) | st.binary(max_size=80).map(lambda b: b.decode("latin-1"))
)
def test_fuzz_text_kernels(text):
    try:
        kernel = _load_file("k.txt", text.encode("utf-8", "surrogatepass"))
    except KernelError as exc:
        _one_clean_line(exc)
        return
    assert np.all(np.isfinite(kernel.weights))


@FUZZ
@given(st.binary(max_size=120))
def test_fuzz_text_kernels_never_echo_the_file(data):
    secret = b"SECRET" + data + b"TERCES"
    message = ""
    try:
        _load_file("k", secret)
    except KernelError as exc:
        _one_clean_line(exc)
        message = str(exc)
    assert "SECRET" not in message
    assert "TERCES" not in message


# -- .npy kernels and .npy images ---------------------------------------------------------

DTYPES = st.sampled_from(["<f8", "<f4", "|u1", "<i4", "|b1", "<c16", "|O", "<U3", "zz", ""])
SHAPES = st.lists(st.integers(-5, 10**12), max_size=5).map(tuple)


def _npy(header: str, tail: bytes) -> bytes:
    raw = header.encode("latin-1", "replace")
    body = raw + b" " * ((64 - (10 + len(raw) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + (len(body) % 65536).to_bytes(2, "little") + body + tail


@FUZZ
@given(DTYPES, st.booleans(), SHAPES, st.binary(max_size=200))
def test_fuzz_npy_kernel_headers(descr, fortran, shape, tail):
    header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}"
    try:
        kernel = _load_file("k.npy", _npy(header, tail))
    except KernelError as exc:
        _one_clean_line(exc)
        return
    assert kernel.weights.ndim in (2, 3, 4)


@FUZZ
@given(st.text(max_size=80), st.binary(max_size=100))
def test_fuzz_npy_kernel_raw_headers(header, tail):
    try:
        _load_file("k.npy", _npy(header, tail))
    except KernelError as exc:
        _one_clean_line(exc)


@FUZZ
@given(DTYPES, st.booleans(), SHAPES, st.binary(max_size=200))
def test_fuzz_npy_images(descr, fortran, shape, tail):
    from convcli.images import load_image_bytes

    header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}"
    try:
        load_image_bytes(_npy(header, tail), max_pixels=10**6)
    except ConvCliError as exc:
        _one_clean_line(exc)


# -- images -------------------------------------------------------------------------------

MAGICS = [b"\x89PNG\r\n\x1a\n", b"GIF89a", b"II*\x00", b"MM\x00*", b"BM", b"\xff\xd8\xff"]


@FUZZ
@given(st.sampled_from(MAGICS), st.binary(max_size=300), st.booleans())
def test_fuzz_image_and_frame_readers(magic, tail, frames):
    from convcli.images import load_frames, load_image_bytes

    data = magic + tail
    try:
        if frames:
            load_frames("<fuzz>", data=data, max_pixels=10**6)
        else:
            load_image_bytes(data, max_pixels=10**6)
    except ConvCliError as exc:
        _one_clean_line(exc)


@FUZZ
@given(st.binary(min_size=1, max_size=300))
def test_fuzz_image_file_through_a_fifo_or_file(data):
    from convcli.images import load_image

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "x.png")
        with open(path, "wb") as f:
            f.write(data)
        try:
            load_image(path, max_pixels=10**6)
        except ConvCliError as exc:
            _one_clean_line(exc)


def test_npy_helper_builds_a_readable_header():
    buf = io.BytesIO()
    np.save(buf, np.ones((2, 2)))
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }"
    data = _npy(header, np.ones((2, 2)).tobytes())
    assert np.array_equal(np.load(io.BytesIO(data)), np.load(io.BytesIO(buf.getvalue())))
