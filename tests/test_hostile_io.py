"""Hostile files and streams: symlinked outputs, FIFOs, stdin/stdout limits, signals, boundaries.

Only FIFOs and files made in a temporary folder are used: never a real device
or a system file.  Each class of the robustness issue is tried with several
cases; the exit codes are those of SPEC section 7.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convcli.atomic import atomic_write, write_stream
from convcli.errors import ImageError
from tests.support import assert_clean_error, cli, noisy_pngs, start_batch

REPO = Path(__file__).resolve().parent.parent
POSIX = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


@pytest.fixture
def png(tmp_path: Path) -> Path:
    path = tmp_path / "in.png"
    pixels = np.random.default_rng(5).integers(0, 256, size=(12, 10, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _command() -> list[str]:
    exe = shutil.which("convcli")
    return [exe] if exe else [sys.executable, "-m", "convcli"]


def _tmp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*.tmp"))


# -- symbolic links and special files as outputs ------------------------------------------


def test_symlink_to_a_regular_file_is_written_through_and_stays_a_link(capsys, tmp_path, png):
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    real = real_dir / "target.png"
    real.write_bytes(b"old")
    link = tmp_path / "o.png"
    link.symlink_to(real)
    code, _, err = cli(capsys, "filter", png, "-k", "sharpen", "-o", link, "-q")
    assert code == 0, err
    assert link.is_symlink()
    assert os.readlink(link) == str(real)
    with Image.open(real) as im:
        assert im.size == (10, 12)
    assert _tmp_files(tmp_path) == []


@POSIX
@pytest.mark.parametrize("through_link", [False, True], ids=["fifo", "link-to-fifo"])
def test_a_fifo_output_is_never_replaced(capsys, tmp_path, png, through_link):
    fifo = tmp_path / "f.png"
    os.mkfifo(fifo)
    out = fifo
    if through_link:
        out = tmp_path / "o.png"
        out.symlink_to(fifo)
    code, _, err = cli(capsys, "filter", png, "-k", "sharpen", "-o", out, "-q")
    assert_clean_error(code, err, 1, "FIFO", "only replaces regular files")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert _tmp_files(tmp_path) == []


def test_a_dangling_link_is_refused_and_creates_nothing(capsys, tmp_path, png):
    link = tmp_path / "o.png"
    link.symlink_to(tmp_path / "planted.png")
    code, _, err = cli(capsys, "filter", png, "-k", "sharpen", "-o", link, "-q")
    assert_clean_error(code, err, 1, "symbolic link", "does not exist")
    assert not (tmp_path / "planted.png").exists()
    assert link.is_symlink()


def test_a_link_to_a_folder_is_refused(capsys, tmp_path, png):
    folder = tmp_path / "dir"
    folder.mkdir()
    link = tmp_path / "o.png"
    link.symlink_to(folder)
    code, _, err = cli(capsys, "filter", png, "-k", "sharpen", "-o", link, "-q")
    assert_clean_error(code, err, 1, "a folder", "symbolic link")
    assert folder.is_dir()
    assert list(folder.iterdir()) == []


@POSIX
def test_atomic_write_refuses_special_files_in_the_library(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match="FIFO"), atomic_write(fifo) as tmp:
        tmp.write_text("x")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert _tmp_files(tmp_path) == []


# -- stdout: short writes, closed pipes, full disks ---------------------------------------


class _Trickle(io.RawIOBase):
    """A stream that takes at most ``step`` bytes per write (a pipe)."""

    def __init__(self, step: int, stop_after: int | None = None) -> None:
        self.data = bytearray()
        self.step = step
        self.stop_after = stop_after

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[no-untyped-def, override]
        if self.stop_after is not None and len(self.data) >= self.stop_after:
            return 0
        part = bytes(b[: self.step])
        self.data += part
        return len(part)


@pytest.mark.parametrize("step", [1, 7, 65536])
def test_write_stream_writes_everything_through_short_writes(step):
    data = bytes(range(256)) * 1000
    sink = _Trickle(step)
    write_stream(sink, data)  # type: ignore[arg-type]
    assert bytes(sink.data) == data


@pytest.mark.parametrize("stop_after", [0, 10, 65536])
def test_a_stream_that_takes_nothing_is_an_error(stop_after):
    with pytest.raises(ImageError, match="took none"):
        write_stream(_Trickle(4096, stop_after), b"x" * 100_000)  # type: ignore[arg-type]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("fmt", ["png", "npy", "gif"])
def test_stdout_to_a_full_device_is_one_error_line(tmp_path, png, fmt):
    extra = ["--all-frames"] if fmt == "gif" else []
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            [*_command(), "filter", png, "-k", "box", "-o", "-", "--format", fmt, *extra],
            stdout=full,
            stderr=subprocess.PIPE,
            env=_env(),
            check=False,
        )
    err = proc.stderr.decode()
    assert_clean_error(proc.returncode, err, 1, "No space left on device")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize(
    "args",
    [["kernels", "list"], ["kernels", "list", "--json"], ["shape", "10x10", "-k", "3", "--json"]],
)
def test_other_commands_to_a_full_device_are_not_unexpected(args):
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            [*_command(), *args], stdout=full, stderr=subprocess.PIPE, env=_env(), check=False
        )
    err = proc.stderr.decode()
    assert_clean_error(proc.returncode, err, 1, "No space left on device")
    assert "unexpected" not in err


def test_stdout_closed_early_is_not_a_success(tmp_path):
    big = tmp_path / "big.png"
    rng = np.random.default_rng(2)
    Image.fromarray(rng.integers(0, 256, (700, 700, 3), dtype=np.uint8)).save(big)
    proc = subprocess.Popen(
        [*_command(), "filter", big, "-k", "box", "-o", "-", "--format", "npy"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    assert proc.stdout is not None
    head = proc.stdout.read(10)
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert len(head) == 10
    assert proc.returncode == 1
    assert b"Traceback" not in err


def test_stdout_closed_at_start_is_one_error_line(tmp_path, png):
    proc = subprocess.run(
        [*_command(), "filter", png, "-k", "box", "-o", "-", "--format", "png"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_env(),
        check=False,
        preexec_fn=lambda: os.close(1),  # noqa: PLW1509 - the >&- of a shell
    )
    assert_clean_error(proc.returncode, proc.stderr.decode(), 1, "standard output is closed")


# -- FIFOs and process substitution as inputs ---------------------------------------------


def _feed(fifo: Path, data: bytes) -> threading.Thread:
    def write() -> None:
        with open(fifo, "wb") as f:
            f.write(data)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


@POSIX
@pytest.mark.parametrize("kind", ["png", "npy"])
def test_a_fifo_input_is_read_once(capsys, tmp_path, png, kind):
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    if kind == "npy":
        buf = io.BytesIO()
        np.save(buf, np.arange(30, dtype=np.uint8).reshape(5, 6))
        data = buf.getvalue()
    else:
        data = png.read_bytes()
    writer = _feed(fifo, data)
    out = tmp_path / "out.npy"
    code, _, err = cli(capsys, "filter", fifo, "-k", "identity", "-o", out, "-q")
    writer.join(5)
    assert code == 0, err
    assert np.load(out).shape[:2] == ((5, 6) if kind == "npy" else (12, 10))


@POSIX
def test_shape_reads_a_fifo_input(capsys, tmp_path, png):
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    writer = _feed(fifo, png.read_bytes())
    code, out, err = cli(capsys, "shape", fifo, "-k", "3", "--json")
    writer.join(5)
    assert code == 0, err
    assert json.loads(out)["layers"][0]["input_shape"] == [12, 10, 3]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_process_substitution_input(tmp_path, png):
    out = tmp_path / "o.png"
    cmd = " ".join([*_command(), "filter", f"<(cat {png})", "-k", "box", "-o", str(out), "-q"])
    proc = subprocess.run(
        ["bash", "-c", cmd], capture_output=True, text=True, env=_env(), check=False, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    with Image.open(out) as im:
        assert im.size == (10, 12)


@POSIX
@pytest.mark.parametrize("command", [["kernels", "list"], ["filter", "IN", "-k", "hang"]])
def test_a_fifo_preset_never_hangs(tmp_path, png, command):
    os.mkfifo(tmp_path / "hang.toml")
    args = [str(png) if a == "IN" else a for a in command]
    proc = subprocess.run(
        [*_command(), *args, "-o", str(tmp_path / "o.png")]
        if "filter" in args
        else [
            *_command(),
            *args,
        ],
        capture_output=True,
        text=True,
        env=_env(CONVCLI_KERNEL_PATH=str(tmp_path)),
        check=False,
        timeout=60,
    )
    if "filter" in args:
        assert_clean_error(proc.returncode, proc.stderr, 2, "not a regular file")
    else:  # kernels list skips a bad user preset with one warning naming it (issue 15)
        assert proc.returncode == 0, proc.stderr
        warned = [ln for ln in proc.stderr.splitlines() if "hang.toml" in ln]
        assert len(warned) == 1
        assert "not a regular file" in warned[0]


@POSIX
def test_a_fifo_kernel_is_refused_not_read(capsys, tmp_path, png):
    fifo = tmp_path / "k.txt"
    os.mkfifo(fifo)
    for spec in (fifo, str(fifo).removesuffix(".txt") + ".txt"):
        code, _, err = cli(capsys, "filter", png, "-k", spec, "-o", tmp_path / "o.png")
        assert_clean_error(code, err, 2, "not a regular file")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_process_substitution_kernel_is_named_for_what_it_is(tmp_path, png):
    out = tmp_path / "o.png"
    cmd = " ".join([*_command(), "filter", str(png), "-k", "<(echo 1 2 1)", "-o", str(out)])
    proc = subprocess.run(
        ["bash", "-c", cmd], capture_output=True, text=True, env=_env(), check=False, timeout=60
    )
    assert_clean_error(proc.returncode, proc.stderr, 2, "not a regular file")
    assert "not found" not in proc.stderr


# -- stdin and stream limits --------------------------------------------------------------


@pytest.mark.parametrize("limit", ["1000", "64K", "1M"])
def test_stdin_is_read_within_its_limit(tmp_path, limit):
    proc = subprocess.run(
        [*_command(), "filter", "-", "-k", "box", "-o", str(tmp_path / "o.png")],
        input=b"\0" * (3 << 20),
        capture_output=True,
        env=_env(CONVCLI_MAX_INPUT_BYTES=limit),
        check=False,
        timeout=60,
    )
    assert_clean_error(proc.returncode, proc.stderr.decode(), 1, "CONVCLI_MAX_INPUT_BYTES")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_endless_stdin_stops_at_the_limit(tmp_path):
    with open("/dev/zero", "rb") as zero:
        proc = subprocess.run(
            [*_command(), "filter", "-", "-k", "box", "-o", str(tmp_path / "o.png")],
            stdin=zero,
            capture_output=True,
            env=_env(CONVCLI_MAX_INPUT_BYTES="8M"),
            check=False,
            timeout=60,
        )
    assert_clean_error(proc.returncode, proc.stderr.decode(), 1, "8.0 MiB")


@pytest.mark.parametrize("value", ["0", "-3", "lots", "1.5G"])
def test_a_bad_limit_variable_is_a_usage_error(capsys, monkeypatch, png, tmp_path, value):
    monkeypatch.setenv("CONVCLI_MAX_OUTPUT_PIXELS", value)
    code, _, err = cli(capsys, "filter", png, "-k", "box", "-o", tmp_path / "o.png")
    assert_clean_error(code, err, 2, "CONVCLI_MAX_OUTPUT_PIXELS")


# -- the error boundary per file and per command ------------------------------------------


@pytest.mark.parametrize(
    ("error", "token"),
    [
        (MemoryError(), "out of memory"),
        (OSError(5, "Input/output error"), "Input/output error"),
        (IndexError("a bug"), "unexpected IndexError"),
    ],
)
def test_one_file_failing_unexpectedly_does_not_stop_the_batch(
    capsys, monkeypatch, tmp_path, error, token
):
    import convcli.runner.single as single

    real = single.filter_image
    for name in "abc":
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / f"{name}.png")

    def flaky(src, *args, **kwargs):
        if str(src).endswith("b.png"):
            raise error
        return real(src, *args, **kwargs)

    monkeypatch.setattr(single, "filter_image", flaky)
    out = tmp_path / "out"
    code, stdout, err = cli(
        capsys, "filter", *(tmp_path / f"{n}.png" for n in "abc"), "-k", "box", "-d", out
    )
    assert code == 1
    errors = [ln for ln in err.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1
    assert token in errors[0]
    assert "b.png" in errors[0]
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png"]


@pytest.mark.parametrize(
    ("error", "token"),
    [(MemoryError(), "out of memory"), (OSError(28, "No space left on device"), "No space left")],
)
def test_the_command_boundary_names_what_went_wrong(capsys, monkeypatch, error, token):
    import convcli.presets as presets

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(presets, "list_presets", broken)
    code, _, err = cli(capsys, "kernels", "list")
    assert_clean_error(code, err, 1, token)
    assert "unexpected" not in err


def test_a_file_named_like_the_debug_flag_after_double_dash(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "filter", "-k", "box", "-o", "o.png", "--", "--debug")
    assert_clean_error(code, err, 2, "--debug")


# -- signals ------------------------------------------------------------------------------


def _descendants(pid: int) -> set[int]:
    """Processes below ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")
@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_sigterm_and_sighup_clean_up_and_stop_the_workers(tmp_path, jobs, signum):
    inputs = noisy_pngs(tmp_path, 6, seed=1)
    out_dir = tmp_path / "out"
    proc = start_batch(_command(), inputs, out_dir, "gaussian:sigma=4", jobs, _env())
    deadline = time.monotonic() + 60
    while not any(p.suffix == ".png" for p in out_dir.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    workers = _descendants(proc.pid)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    lines = [ln for ln in err.decode().splitlines() if ln.strip()]
    assert lines == [f"Error: terminated by signal {int(signum)}"]
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p for p in workers if _alive(p)] == []
    written = sorted(p.name for p in out_dir.iterdir())
    time.sleep(0.5)
    assert sorted(p.name for p in out_dir.iterdir()) == written  # nobody writes on
    assert _tmp_files(out_dir) == []
    assert len(written) < len(inputs)


# -- a full disk behind an encoder that hides the errno -----------------------------------


class _Full:
    f_bavail = 0


@pytest.mark.parametrize("ext", [".tif", ".png", ".webp"])
@pytest.mark.parametrize("full", [True, False])
def test_an_encoder_error_on_a_full_disk_says_no_space(
    capsys, monkeypatch, tmp_path, png, ext, full
):
    def failing_save(self, fp, *args, **kwargs):
        raise OSError("encoder error -2 when writing image file")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    import convcli.images.png as png_writer

    monkeypatch.setattr(png_writer, "write_png", failing_save, raising=False)
    if full:
        monkeypatch.setattr(os, "statvfs", lambda path: _Full())
    out = tmp_path / f"o{ext}"
    code, _, err = cli(capsys, "filter", png, "-k", "box", "-o", out)
    assert code == 1, err
    assert ("No space left on device" in err) == full
    assert "encoder error -2" in err
    assert not out.exists()
    assert _tmp_files(tmp_path) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")
def test_workers_stop_when_the_batch_is_killed(tmp_path):
    inputs = noisy_pngs(tmp_path, 6, seed=4)
    out_dir = tmp_path / "out"
    proc = start_batch(_command(), inputs, out_dir, "gaussian:sigma=6", "2", _env(), pipe=False)
    deadline = time.monotonic() + 60
    while not list(out_dir.iterdir()):  # a worker has started writing (its temp file)
        assert proc.poll() is None
        assert time.monotonic() < deadline
        time.sleep(0.01)
    workers = _descendants(proc.pid)
    proc.kill()  # SIGKILL: no handler runs in the parent
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p for p in workers if _alive(p)] == []
    assert _tmp_files(out_dir) == []
