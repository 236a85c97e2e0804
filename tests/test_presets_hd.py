"""Issue #24: the 256–1024 px presets (``saehd-256``, ``saehd-512``, ``hd-1024``), the HD family end to
end (train, save, load, merge), the 1024 px resolution limit and the refusal of a run whose memory
estimate does not fit, in one line naming what to change."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import MakeFacesets
from hostile_factory import run_peak
from recast.errors import OptionError
from recast.faces.facetype import FaceType
from recast.models.hd import HD
from recast.models.inference import FaceSwapper
from recast.models.memory_probe import TRAIN_CHANGES
from recast.models.registry import create_model, get_entry

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY_HD = {"resolution": 64, "e_dims": 4, "d_dims": 4, "code_dims": 8, "d_mask_dims": 2}


@pytest.mark.parametrize(("name", "resolution"), [("saehd-256", 256), ("saehd-512", 512), ("hd-1024", 1024)])
def test_presets_are_built_at_their_size_without_allocating(name: str, resolution: int) -> None:
    with torch.device("meta"):
        model = create_model(name)
        face, src_mask, dst_mask = model.swap(torch.empty(1, 3, resolution, resolution))
    assert model.resolution == resolution and model.config.face_type == "whole"  # type: ignore[attr-defined]
    assert face.shape == (1, 3, resolution, resolution) and dst_mask.shape == (1, 1, resolution, resolution)
    assert src_mask.shape == dst_mask.shape


@pytest.mark.parametrize("name", ["saehd", "amp", "hd-1024"])
def test_resolution_1024_is_accepted_and_1056_refused(name: str) -> None:
    with torch.device("meta"):
        assert create_model(name, resolution=1024).resolution == 1024
    with pytest.raises(OptionError, match=r"resolution.*1024"):
        get_entry(name).build_config(resolution=1056)


def test_hd_has_no_dense_layer_and_lists_its_checkpoint_blocks() -> None:
    model = create_model("hd-1024", **TINY_HD)
    assert isinstance(model, HD)
    assert not [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    blocks = model.checkpoint_blocks()
    owned = {id(m) for m in model.modules()}
    assert len(blocks) > 10 and all(id(block) in owned for block in blocks)
    assert model.encoder.stages[0] in blocks and model.decoder_dst.mask_stages[-1] in blocks
    saehd = create_model("cpu")
    stages = saehd.checkpoint_blocks()  # decoders run through forward_image: their stages are listed, not them
    assert saehd.encoder.body[0] in stages and saehd.decoder_src.image_body[-1] in stages
    assert saehd.decoder_src not in stages


def test_hd_trains_saves_loads_and_merges(make_facesets: MakeFacesets, tmp_path: Path) -> None:
    from recast.merge.settings import MergeSettings
    from recast.merge.stage import merge
    from recast.train.options import TrainOptions
    from recast.train.trainer import train
    from test_merge_stage import write_destination

    src, dst = make_facesets(count=4, size=64, face_type=FaceType.WHOLE)
    model_dir = tmp_path / "model"
    options = TrainOptions(src=src, dst=dst, model_dir=model_dir, model="hd-1024", model_config=TINY_HD,
                           settings={"batch_size": 2}, iterations=3, device="cpu", seed=0)
    train(options)
    loaded = FaceSwapper.load(model_dir, precision="fp32", channels_last=False)
    assert loaded.iteration == 3 and isinstance(loaded.model, HD) and loaded.resolution == 64
    workspace = tmp_path / "dest"
    workspace.mkdir()
    write_destination(workspace)
    summary = merge(model_dir, workspace / "frames", workspace / "aligned", workspace / "merged",
                    MergeSettings(color="none"), batch_size=2, workers=1)
    merged = sorted((workspace / "merged").glob("*.png"))
    assert summary.frames_total == len(merged) == 6 and summary.faces_merged == 6
    first, original = cv2.imread(str(merged[0])), cv2.imread(str(workspace / "frames" / merged[0].name))
    assert first.shape == original.shape and np.abs(first.astype(int) - original).max() > 0  # the face changed


_LIMITED = """
import resource
from recast.train.trainer import train
from recast.train.options import TrainOptions
with open('/proc/self/status') as status:
    mapped = int(next(l for l in status if l.startswith('VmSize:')).split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (mapped + (3 << 30), resource.RLIM_INFINITY))
from recast.errors import RecastError
try:
    train(TrainOptions(src={src!r}, dst={dst!r}, model_dir={model!r}, model='hd-1024', iterations=1, device='cpu'))
    print('ran')
except RecastError as error:
    print('refused:', error)
"""


def test_hd_1024_beyond_a_small_allowance_is_refused_in_one_line(make_facesets: MakeFacesets,
                                                                  tmp_path: Path) -> None:
    """The allowance is faked with an address-space limit 3 GiB above what the child has mapped: the
    1024 px model at its batch of 2 needs more, so it is refused before the model or a batch exists."""
    src, dst = make_facesets(count=2, size=64, face_type=FaceType.WHOLE)
    peak, output = run_peak(_LIMITED.format(src=str(src), dst=str(dst), model=str(tmp_path / "model")))
    refusal = next(line for line in output.splitlines() if line.startswith("refused:"))
    assert refusal.startswith("refused: training hd-1024 on cpu needs about") and "at batch 2)" in refusal, output
    assert refusal.endswith(TRAIN_CHANGES) and "--shard" in refusal and "--checkpoint-activations" in refusal
    assert "Traceback" not in output and peak < 500, output
    assert not (tmp_path / "model" / "checkpoints").exists()


def test_the_refusal_names_the_per_rank_estimate_parts() -> None:
    from recast.models.memory import check_fits, estimate_training
    from recast.models.memory_probe import measure

    config = dataclasses.asdict(get_entry("hd-1024").build_config())
    counts = measure("hd-1024", config)
    estimate = estimate_training(parameters=counts.parameters, trainable=counts.parameters,
                                 activation_elements=counts.train_activations, largest_activation=counts.train_largest,
                                 input_elements=counts.input_elements, batch=2)
    assert estimate.activations > estimate.weights + estimate.gradients + estimate.optimizer  # conv: activations rule
    with pytest.raises(OptionError, match=r"^training needs about .* activations .* at batch 2\), but only 1\.0 GiB "
                                          r"is available; lower --batch-size, add --checkpoint-activations"):
        check_fits(estimate, 1 << 30, "training", TRAIN_CHANGES)


def test_extraction_warns_in_one_line_when_faces_are_upscaled(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                                              ) -> None:
    from media_factory import astronaut_bgr
    from recast.extract.stage import ExtractOptions, extract

    frames = tmp_path / "frames"
    frames.mkdir()
    photo = astronaut_bgr()
    cv2.imwrite(str(frames / "00001.png"), cv2.resize(photo, (2 * photo.shape[1], 2 * photo.shape[0])))
    with caplog.at_level("WARNING", logger="recast.extract.stage"):
        small = extract(frames, tmp_path / "aligned_256", ExtractOptions(size=256, workers=1))
        assert not caplog.records
        large = extract(frames, tmp_path / "aligned_1024", ExtractOptions(size=1024, workers=1))
    assert small.faces == large.faces == 1 and 256 < small.face_side == large.face_side < 1024
    (warning,) = caplog.records
    text = warning.getMessage()
    assert "\n" not in text and f"median {large.face_side} px in their frames, upscaled to 1024 px" in text
