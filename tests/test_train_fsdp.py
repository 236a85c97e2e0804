"""FSDP2 (``--shard``) and activation checkpointing: 2 CPU processes (gloo) with the model sharded train to
the same weights as 1 process at the same global batch; the checkpoint is one plain safetensors file that
resumes without sharding and merges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import MakeFacesets, TinyConfig
from recast.merge.settings import MergeSettings
from recast.merge.stage import merge
from recast.models.memory import MemoryEstimate
from recast.models.registry import create_model, get_entry
from recast.train import TrainOptions, train
from recast.train.distributed import DistInfo
from recast.train.options import resolve_settings
from recast.train.sharding import checkpoint_blocks
from recast.train.step import TrainStep, make_part
from test_merge_stage import write_destination
from test_train_ddp import (
    SETTINGS,
    assert_two_processes_match_one,
    config_file,
    recast_train,
    saved_weights,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_checkpointed_blocks_give_the_same_gradients(tiny_config: TinyConfig) -> None:
    torch.manual_seed(3)
    plain = create_model("saehd", **tiny_config())
    checkpointed = create_model("saehd", **tiny_config())
    checkpointed.load_state_dict(plain.state_dict())
    assert checkpoint_blocks(checkpointed) >= 4
    assert checkpointed.state_dict().keys() == plain.state_dict().keys()
    faces = torch.rand(2, 3, 64, 64)
    for model in (plain, checkpointed):
        out = model(faces, faces)
        (out.pred_src_src.square().mean() + out.pred_dst_dst.mean() + out.pred_src_srcm.mean()
         + out.pred_dst_dstm.mean()).backward()
    for (name, a), (_, b) in zip(plain.named_parameters(), checkpointed.named_parameters(), strict=True):
        assert a.grad is not None and b.grad is not None, name
        torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=1e-7)


def test_checkpointed_losses_give_the_same_step_and_keep_less(tiny_config: TinyConfig) -> None:
    """One step with each side's reconstruction loss checkpointed: the same losses and weights, less saved."""
    settings = resolve_settings(get_entry("saehd").train_defaults, {"batch_size": 2})
    gen = torch.Generator().manual_seed(5)
    batch = {k: torch.rand(2, 3, 64, 64, generator=gen) for k in ("src_warped", "dst_warped", "src_target",
                                                                   "dst_target")}
    batch |= {k: (torch.rand(2, 1, 64, 64, generator=gen) > 0.5).float()
              for k in ("src_mask", "dst_mask", "src_em", "dst_em")}
    torch.manual_seed(3)
    start = create_model("saehd", **tiny_config()).state_dict()
    results = []
    for checkpoint_losses in (False, True):
        model = create_model("saehd", **tiny_config())
        model.load_state_dict(start)
        step = TrainStep(make_part(model, settings, torch.device("cpu"), 0), settings, DistInfo(),
                         torch.device("cpu"), checkpoint_losses=checkpoint_losses)
        saved = [0]

        def pack(tensor: torch.Tensor, saved: list[int] = saved) -> torch.Tensor:
            saved[0] += tensor.numel()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            losses = step(batch, 1)
        results.append((losses, {k: v.detach().clone() for k, v in model.state_dict().items()}, saved[0]))
    (plain_losses, plain, plain_saved), (losses, weights, saved_elements) = results
    assert losses == pytest.approx(plain_losses, rel=0, abs=1e-6)
    assert max((weights[k] - plain[k]).abs().max().item() for k in plain) <= 1e-6
    assert max((start[k] - plain[k]).abs().max().item() for k in plain) > 1e-5  # the step moved the weights (lr 5e-5)
    assert saved_elements < plain_saved


@pytest.mark.slow
@pytest.mark.parametrize("flags", [("--shard",), ("--shard", "--checkpoint-activations")])
def test_sharded_two_processes_match_one(tmp_path: Path, tiny_config: TinyConfig, make_facesets: MakeFacesets,
                                         flags: tuple[str, ...]) -> None:
    assert_two_processes_match_one(tmp_path, tiny_config(archi="liae-ud"), make_facesets, *flags)


@pytest.mark.slow
def test_sharded_checkpoint_resumes_unsharded_merges_and_reshards(tmp_path: Path, tiny_config: TinyConfig,
                                                         make_facesets: MakeFacesets) -> None:
    config = tiny_config()
    src, dst = make_facesets(8)
    cfg = config_file(tmp_path / "run.toml", config, SETTINGS)
    model_dir = tmp_path / "model"
    done = recast_train(src, dst, model_dir, cfg, 2, "--shard")
    assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads((model_dir / "state.json").read_text())
    optimizer = (model_dir / state["checkpoint"]).glob("optimizer*")
    assert any(True for _ in optimizer)  # the gathered optimiser state is saved beside the weights
    sharded = saved_weights(model_dir)
    assert all(type(t) is torch.Tensor for t in sharded.values())
    events: list[str] = []
    result = train(TrainOptions(src, dst, model_dir, settings=SETTINGS, iterations=3, workers=0, preview_every=0,
                                threads=1, device="cpu", precision="fp32",
                                on_event=lambda event: events.append(event.message)))
    assert result.iteration == 3 and result.status == "done"
    assert "optimizer state did not fit; reset" not in events
    workspace = tmp_path / "dest"
    workspace.mkdir()
    write_destination(workspace)
    summary = merge(model_dir, workspace / "frames", workspace / "aligned", workspace / "merged",
                    MergeSettings(color="none"), device="cpu", precision="fp32", workers=1)
    assert summary.faces_merged == 6
    done = recast_train(src, dst, model_dir, cfg, 4, "--shard")  # and back into shards, optimiser state included
    assert done.returncode == 0, done.stderr[-3000:]
    assert "did not fit" not in done.stdout + done.stderr
    assert json.loads((model_dir / "state.json").read_text())["iteration"] == 4


def test_memory_estimate_counts_shard_and_checkpointing(tmp_path: Path) -> None:
    from recast.train.memcheck import check_train_memory

    def estimate(**flags: bool) -> MemoryEstimate:
        options = TrainOptions("src", "dst", tmp_path / "new", model="saehd", settings={"batch_size": 8}, **flags)
        found = check_train_memory(options, torch.device("cpu"), ranks=4)
        assert found is not None
        return found

    plain, sharded, checkpointed = estimate(), estimate(shard=True), estimate(checkpoint_activations=True)
    for part in ("weights", "gradients", "optimizer"):
        assert getattr(sharded, part) < 0.5 * getattr(plain, part)
    assert sharded.activations == plain.activations
    assert checkpointed.activations < plain.activations  # SAEHD lists its top-level children: a modest saving
    assert (checkpointed.weights, checkpointed.optimizer) == (plain.weights, plain.optimizer)


@pytest.mark.slow
def test_sharded_run_follows_the_dfl_recipe_with_lr_dropout_on_its_shards(
        tmp_path: Path, tiny_config: TinyConfig, make_facesets: MakeFacesets) -> None:
    """--shard with --recipe dfl: the regular phase's lr dropout masks each rank's shards (it used to be refused),
    the GAN phase's discriminator joins, and the gathered weights are finite and trained."""
    config = tiny_config()
    src, dst = make_facesets(8)
    cfg = config_file(tmp_path / "run.toml", config, SETTINGS)
    model_dir = tmp_path / "model"
    done = recast_train(src, dst, model_dir, cfg, 10, "--shard", "--recipe", "dfl")
    assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads((model_dir / "state.json").read_text())
    assert state["iteration"] == 10
    assert state["recipe"]["phase"] == "gan" and state["recipe"]["began"]["regular"] == 6
    weights = saved_weights(model_dir)
    assert all(bool(torch.isfinite(t).all()) for t in weights.values())
    assert any(name.startswith("gan_d.") for name in weights)
