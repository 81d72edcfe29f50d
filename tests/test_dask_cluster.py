"""Batches and huge images on real Dask clusters, on 127.0.0.1 only.

A ``LocalCluster`` of two worker processes serves most tests (started once for
the module); one test starts ``dask scheduler`` and ``dask worker --nworkers 2``
as subprocesses on random ports and kills a worker mid-run.  Outputs are
compared byte for byte with the same command run without ``--scheduler``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest
import zarr
from distributed import Client, LocalCluster
from PIL import Image

from convcli.dask import filter_files
from convcli.filters import FilterOptions
from convcli.kernelspec import load_kernel
from convcli.runner.batch import FilterJob
from tests.support import assert_clean_error

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


def _images(folder: Path, n: int, size: int = 40) -> list[Path]:
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        mode = ("RGB", "RGBA", "L")[i % 3]
        channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
        a = rng.integers(0, 256, size=(size + i, size + 2 * i, channels)).astype(np.uint8)
        p = folder / f"img{i:02d}.png"
        Image.fromarray(a[..., 0] if channels == 1 else a, mode).save(p)
        paths.append(p)
    return paths


def _same_files(a: Path, b: Path) -> None:
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def _listening(pids: list[int]) -> list[tuple[str, int]]:
    found = []
    for pid in pids:
        for conn in psutil.Process(pid).net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN:
                found.append((conn.laddr.ip, conn.laddr.port))
    return found


def test_batch_on_the_cluster_is_byte_identical_with_failures_reported(
    tmp_path: Path, client: Client, run_cli
) -> None:
    _images(tmp_path / "in", 7)
    (tmp_path / "in" / "img99.png").write_bytes(b"\x89PNG but truncated")
    pattern = str(tmp_path / "in" / "*.png")
    common = ["-k", "sharpen", "-k", "box:3", "--border", "wrap", "--json"]
    code, out, err = run_cli("filter", pattern, *common, "-d", tmp_path / "local", "-q")
    assert code == 1
    local = json.loads(out)["results"]
    address = client.scheduler.address
    code, out, err = run_cli(
        "filter", pattern, *common, "-d", tmp_path / "cluster", "--scheduler", address
    )
    assert code == 1
    results = json.loads(out)["results"]
    assert [r["input"] for r in results] == [r["input"] for r in local]  # input order kept
    assert [r["ok"] for r in results] == [r["ok"] for r in local] == [True] * 7 + [False]
    assert results[-1]["error"] == local[-1]["error"]
    assert "1 of 8 inputs failed" in err
    assert err.count("Error: ") == 1
    _same_files(tmp_path / "local", tmp_path / "cluster")


def test_files_from_and_a_bounded_number_in_flight(tmp_path: Path, client: Client) -> None:
    paths = _images(tmp_path / "in", 9, size=16)
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{p}\n" for p in paths), encoding="utf-8")
    job = FilterJob(kernels=[load_kernel("emboss")], options=FilterOptions())
    (tmp_path / "out").mkdir()
    tasks = [(str(p), str(tmp_path / "out" / p.name)) for p in paths]
    seen_in_flight = []
    for _, result, code in filter_files(client, job, tasks, in_flight=2):
        assert code == 0 and result["ok"]
        seen_in_flight.append(len(client.futures))  # futures this client holds
    assert len(seen_in_flight) == 9
    assert max(seen_in_flight) <= 2 + 1  # the bound, and the shared job
    proc = subprocess.run(
        [sys.executable, "-m", "convcli", "filter", "--files-from", "-", "-k", "emboss",
         "-d", "local", "-q"],
        input=listing.read_text(encoding="utf-8"), cwd=tmp_path, capture_output=True,
        text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    _same_files(tmp_path / "local", tmp_path / "out")


def test_huge_image_on_the_cluster_equals_local_threads(
    tmp_path: Path, client: Client, run_cli
) -> None:
    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, size=(90, 70, 3)).astype(np.uint8)
    z = zarr.create_array(str(tmp_path / "in.zarr"), shape=a.shape, chunks=(32, 32, 3), dtype="u1")
    z[:] = a
    args = ["-k", "gaussian:sigma=2", "-k", "sharpen", "--stride", "2", "--chunks", "24", "-q"]
    src = tmp_path / "in.zarr"
    code, _, err = run_cli("filter", src, *args, "-o", tmp_path / "local.tif", "--tile", "16")
    assert code == 0, err
    address = client.scheduler.address
    for out in ("cluster.tif", "cluster.zarr"):
        code, _, err = run_cli(
            "filter", src, *args, "-o", tmp_path / out, "--tile", "16", "--scheduler", address
        )
        assert code == 0, err
    import tifffile

    local = tifffile.imread(tmp_path / "local.tif")
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "cluster.tif"), local)
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "cluster.zarr"))[:], local)


def test_every_listening_socket_is_on_localhost(client: Client) -> None:
    pids = [os.getpid(), *client.run(os.getpid).values()]
    sockets = _listening(pids)
    assert len(sockets) >= 3  # the scheduler and the two workers at least
    assert {ip for ip, _ in sockets} == {"127.0.0.1"}


def test_unreachable_scheduler_is_one_error_line_within_the_timeout(
    tmp_path: Path, run_cli
) -> None:
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    code, _, err = run_cli(
        "filter", tmp_path / "a.png", "-k", "box", "-o", tmp_path / "b.png",
        "--scheduler", f"tcp://127.0.0.1:{port}", "--connect-timeout", "1.5",
    )  # fmt: skip
    elapsed = time.monotonic() - start
    assert_clean_error(code, err, 1, "cannot reach the Dask scheduler", f"127.0.0.1:{port}")
    # the timeout is honoured (not the 30 s default); generous for a busy machine
    assert elapsed < 20.0
    assert not (tmp_path / "b.png").exists()
    code, _, err = run_cli(
        "filter", tmp_path / "a.png", "-k", "box", "-o", tmp_path / "b.png", "--scheduler", "nope"
    )
    assert_clean_error(code, err, 2, "--scheduler")


def _wait_for(path: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"{path} did not appear within {seconds} s")
        time.sleep(0.1)


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "dask", *args]  # the `dask` command of this environment
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


def test_scheduler_and_workers_as_processes_survive_a_killed_worker(tmp_path: Path) -> None:
    sched_file = tmp_path / "scheduler.json"
    local = "127.0.0.1"
    scheduler = _start(
        ["scheduler", "--host", local, "--port", "0", "--dashboard-address", f"{local}:0",
         "--scheduler-file", str(sched_file)],
        tmp_path / "scheduler.log",
    )  # fmt: skip
    workers = None
    try:
        _wait_for(sched_file, 30)
        workers = _start(
            ["worker", "--scheduler-file", str(sched_file), "--nworkers", "2", "--nthreads", "1",
             "--host", local, "--dashboard-address", f"{local}:0"],
            tmp_path / "workers.log",
        )  # fmt: skip
        with Client(scheduler_file=str(sched_file), timeout=30) as c:
            c.wait_for_workers(2, timeout=30)
            pids = [scheduler.pid, *c.run(os.getpid).values()]
            assert {ip for ip, _ in _listening(pids)} == {local}
            paths = _images(tmp_path / "in", 16, size=120)
            job = FilterJob(kernels=[load_kernel("gaussian:sigma=4")], options=FilterOptions())
            (tmp_path / "out").mkdir()
            tasks = [(str(p), str(tmp_path / "out" / p.name)) for p in paths]
            results = []
            for _, result, code in filter_files(c, job, tasks, in_flight=4):
                results.append((result["ok"], code))
                if len(results) == 2:  # mid-run: kill one worker process outright
                    victim = next(iter(c.run(os.getpid).values()))
                    os.kill(victim, signal.SIGKILL)
        assert results == [(True, 0)] * 16
        out = tmp_path / "local"
        proc = subprocess.run(
            [sys.executable, "-m", "convcli", "filter", str(tmp_path / "in" / "*.png"),
             "-k", "gaussian:sigma=4", "-d", str(out), "-q"],
            capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)),
            check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        _same_files(out, tmp_path / "out")
        assert [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []
        # the command line, through the scheduler file
        proc = subprocess.run(
            [sys.executable, "-m", "convcli", "filter", str(paths[0]), "-k", "gaussian:sigma=4",
             "-o", str(tmp_path / "via-file.png"), "--scheduler-file", str(sched_file), "-q"],
            capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)),
            check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / "via-file.png").read_bytes() == (out / paths[0].name).read_bytes()
    finally:
        for proc in (workers, scheduler):
            if proc is not None:
                proc.terminate()
        for proc in (workers, scheduler):
            if proc is not None:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def test_a_worker_with_other_versions_is_a_clear_error() -> None:
    from convcli.dask.cluster import ClusterError, check_versions

    class FakeClient:
        def run(self, fn):
            real = fn()
            return {"tcp://127.0.0.1:1": real, "tcp://127.0.0.1:2": ("0.0.1", real[1], real[2])}

    with pytest.raises(ClusterError, match=r"tcp://127.0.0.1:2 .*convcli .* here but 0.0.1 there"):
        check_versions(FakeClient())
