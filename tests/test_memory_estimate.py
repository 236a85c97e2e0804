"""The pieces of the training memory estimate (issue #24): what autograd saves, counted on the meta device
and split by checkpointable block; communication buffers and the process's own memory in the total."""

from __future__ import annotations

import pytest
import torch

from conftest import TinyConfig
from recast.errors import OptionError
from recast.models.losses import reconstruction_loss
from recast.models.memory import check_fits, estimate_training, resident_memory
from recast.models.memory_probe import saved_activations
from recast.models.registry import create_model


def test_saved_tensors_on_meta_match_a_real_cpu_forward(tiny_config: TinyConfig) -> None:
    """The meta count equals what autograd saves when the same model and loss run on real CPU tensors."""
    config = tiny_config()
    with torch.device("meta"):
        meta = create_model("saehd", **config)
    counted = saved_activations(meta)
    real = create_model("saehd", **config)
    assert saved_activations(real) == counted
    assert counted.total > counted.largest > 0 and counted.outside == counted.total
    assert counted.block_inputs == 0 and counted.largest_block == 0


def test_checkpointing_keeps_block_inputs_and_one_block(tiny_config: TinyConfig) -> None:
    with torch.device("meta"):
        model = create_model("saehd", **tiny_config())
    plain = saved_activations(model)
    split = saved_activations(model, model.checkpoint_blocks())
    assert split.total == plain.total
    assert 0 < split.largest_block < split.total and split.block_inputs > 0
    assert split.outside < split.total and split.checkpointed < plain.total


def test_with_checkpointing_each_sides_loss_is_one_more_block(tiny_config: TinyConfig) -> None:
    """Each side's loss saves what the loss alone saves on real tensors, counted as a block of its own."""
    with torch.device("meta"):
        model = create_model("saehd", **tiny_config())
    side = model.train_resolution
    gen = torch.Generator().manual_seed(0)
    faces, masks = torch.rand(1, 3, side, side, generator=gen), torch.rand(1, 1, side, side, generator=gen)
    pred = torch.rand(1, 3, side, side, generator=gen, requires_grad=True)
    pred_mask = torch.rand(1, 1, side, side, generator=gen, requires_grad=True)
    inputs = {t.untyped_storage()._cdata for t in (faces, masks, pred, pred_mask)}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.untyped_storage()._cdata not in inputs:
            saved[tensor.untyped_storage()._cdata] = tensor.untyped_storage().nbytes() // 4  # fp32 elements
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        reconstruction_loss(faces, pred, masks, pred_mask, None, resolution=side, masked=True, eyes_mouth_weight=0.0,
                            learn_mask=True)
    one_loss = sum(saved.values())
    plain = saved_activations(model)
    only_losses = saved_activations(model, [torch.nn.Identity()])  # a block never called: the losses alone
    assert only_losses.total == plain.total and one_loss > 0
    assert only_losses.total - only_losses.outside == 2 * one_loss
    assert only_losses.largest_block == one_loss
    assert only_losses.block_inputs <= 2 * 4 * side * side  # at most the predictions (faces and masks)


def test_buffers_and_process_count_in_the_total_but_the_process_is_not_asked_for_again() -> None:
    resident = resident_memory()
    assert resident is not None and resident > 10 << 20  # this interpreter with torch loaded
    estimate = estimate_training(parameters=1 << 20, trainable=1 << 20, activation_elements=0, largest_activation=0,
                                 input_elements=0, batch=1, buffer_elements=1 << 20, process_bytes=1 << 30)
    assert estimate.buffers == 4 << 20 and estimate.process == 1 << 30
    assert estimate.total == 5 * (4 << 20) + (1 << 30)  # weights, gradients, 2 Adam slots, buffers; the process
    assert "buffers 0.0" in estimate.describe() and "process 1.0" in estimate.describe()
    check_fits(estimate, 30 << 20, "training", "lower --batch-size")
    with pytest.raises(OptionError, match=r"^training needs about 1\.0 GiB"):
        check_fits(estimate, 10 << 20, "training", "lower --batch-size")
