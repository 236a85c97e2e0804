"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from recast.faces.facetype import FaceType

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

TINY_SAEHD: dict[str, Any] = {"resolution": 64, "archi": "df-ud", "ae_dims": 16, "e_dims": 4, "d_dims": 4,
                              "d_mask_dims": 2}
"""The smallest SAEHD the tests train: 64 px, df-ud, widths ae 16, e 4, d 4, mask 2."""
WIDER_DIMS = {"ae_dims": 32, "e_dims": 8, "d_dims": 8, "d_mask_dims": 4}
"""Twice :data:`TINY_SAEHD`'s widths, for the tests that check a loss falls within a few steps."""

TinyConfig = Callable[..., dict[str, Any]]
MakeFacesets = Callable[..., tuple[Path, Path]]

DTYPES = ("fp32", "bf16")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``cuda`` marker: tests that need a CUDA device (skipped without one; ``benchmarks/gpu.py``
    runs them with ``-m cuda``), and ``walk``: the studio's whole workflow in Chromium (``-m walk``)."""
    config.addinivalue_line("markers", "cuda: needs a CUDA device (skipped without one; run by benchmarks/gpu.py)")
    config.addinivalue_line("markers", "walk: the studio's whole workflow in Chromium through the UI only (issue #27)")


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--dtype fp32,bf16``: the precisions ``dtype``-using tests run in (kornia style; default fp32)."""
    parser.addoption("--dtype", default="fp32", help=f"comma-separated precisions for dtype tests: {', '.join(DTYPES)}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize the ``dtype`` argument (``"fp32"`` / ``"bf16"``) from ``--dtype``."""
    if "dtype" in metafunc.fixturenames:
        chosen = [name.strip() for name in str(metafunc.config.getoption("--dtype")).split(",") if name.strip()]
        unknown = sorted(set(chosen) - set(DTYPES))
        if unknown:
            raise pytest.UsageError(f"--dtype {', '.join(unknown)}: choose from {', '.join(DTYPES)}")
        metafunc.parametrize("dtype", chosen)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the project (real face media); skips the test when absent."""
    if not (SHARED_DATA / "MANIFEST.md").is_file():
        pytest.skip("../shared/data is not available")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_config() -> TinyConfig:
    """``tiny_config(wider=False, **changes)``: a new dict of :data:`TINY_SAEHD` (with :data:`WIDER_DIMS`
    when ``wider``) and ``changes`` on top (``archi="liae-ud"``, ``face_type="full"``, ``resolution=128`` …)."""

    def make(wider: bool = False, **changes: Any) -> dict[str, Any]:
        return {**TINY_SAEHD, **(WIDER_DIMS if wider else {}), **changes}

    return make


@pytest.fixture(scope="session")
def make_facesets(tmp_path_factory: pytest.TempPathFactory) -> MakeFacesets:
    """``make_facesets(count=6, size=64, face_type=FaceType.FULL)``: synthetic src and dst facesets
    (identities 0 and 1, ``count`` aligned faces of ``size`` px each) in a new folder; returns (src, dst)."""
    from recast.train.synthetic import write_synthetic_faceset

    def make(count: int = 6, size: int = 64, face_type: FaceType = FaceType.FULL) -> tuple[Path, Path]:
        root = tmp_path_factory.mktemp("faces")
        return (write_synthetic_faceset(root / "src", count, identity=0, size=size, face_type=face_type),
                write_synthetic_faceset(root / "dst", count, identity=1, size=size, face_type=face_type))

    return make


@pytest.fixture(scope="module")
def facesets(make_facesets: MakeFacesets) -> tuple[Path, Path]:
    """The default :func:`make_facesets` pair, written once per test module: copy a faceset before changing it."""
    return make_facesets()


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Run a module's torch work on one thread: tiny models gain nothing from two, and OpenMP
    spin-waits badly when the two cores are shared with other processes."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="session")
def c2pa_keys_in_a_temporary_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Results are C2PA-signed when c2pa-python is installed: keep the local signing key out of ``~``."""
    import os

    previous = os.environ.get("RECAST_C2PA_DIR")
    os.environ["RECAST_C2PA_DIR"] = str(tmp_path_factory.mktemp("c2pa-keys"))
    yield
    if previous is None:
        os.environ.pop("RECAST_C2PA_DIR", None)
    else:
        os.environ["RECAST_C2PA_DIR"] = previous


@pytest.fixture(scope="session")
def real_workspace_template(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace built once per session from real clips (see ``studio_support.build_real_workspace``:
    13 frames each of person_B → person_A, aligned faces, a ``cpu`` model trained 10 iterations).
    Tests that change it copy it first: use ``real_workspace``."""
    from studio_support import build_real_workspace

    return build_real_workspace(tmp_path_factory.mktemp("real-template") / "ws", shared_data, train_iterations=10)


@pytest.fixture
def real_workspace(real_workspace_template: Path, tmp_path: Path) -> Path:
    """A private copy of the real-clip workspace for one test."""
    import shutil

    return Path(shutil.copytree(real_workspace_template, tmp_path / "ws", symlinks=True))
