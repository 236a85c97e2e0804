"""Issue #28 case 9: out of memory on allowed settings (``--batch-size 4096``; SAEHD 640 px with
``ae_dims`` 1024) gave a ``DefaultCPUAllocator`` traceback after 44 s. Train and merge now estimate
the memory per rank before allocating and refuse in one line naming the estimate and the setting.

The child processes run under an address-space limit 3 GiB above what they have mapped, so the
refusal does not depend on this machine's RAM, and an estimate that let the run go ahead would
end in the allocator's own error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hostile_factory import run_peak
from recast.errors import OptionError
from recast.models.memory import MemoryEstimate, check_fits, estimate_inference, estimate_training

MAX_PEAK_MIB = 500

_LIMITED = """
import resource
{imports}
with open('/proc/self/status') as status:
    mapped = int(next(l for l in status if l.startswith('VmSize:')).split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (mapped + (3 << 30), resource.RLIM_INFINITY))
from recast.errors import RecastError
try:
    {run}
    print('ran')
except RecastError as error:
    print('refused:', error)
"""


def test_the_estimate_adds_up_and_refuses_in_one_line() -> None:
    estimate = estimate_training(parameters=1 << 20, trainable=1 << 19, activation_elements=1 << 20,
                                 largest_activation=1 << 16, input_elements=1 << 10, batch=8, optimizer="adam")
    assert estimate.weights == 4 << 20 and estimate.gradients == 2 << 20 and estimate.optimizer == 4 << 20
    assert estimate.activations == ((1 << 20) + (1 << 16)) * 8 * 4 and estimate.inputs == (1 << 10) * 8 * 4
    sharded = estimate_training(parameters=1 << 20, trainable=1 << 19, activation_elements=0, largest_activation=0,
                                input_elements=0, batch=1, optimizer="rmsprop", shards=4)
    assert sharded.optimizer == (1 << 19) * 4 // 4
    check_fits(estimate, estimate.total * 2, "training", "lower --batch-size")
    check_fits(estimate, None, "training", "lower --batch-size")  # unknown: never refused
    with pytest.raises(OptionError, match=r"training needs about 0\.0 GiB .* at batch 8\), but only 0\.0 GiB is "
                                          r"available; lower --batch-size"):
        check_fits(estimate, estimate.total // 2, "training", "lower --batch-size")
    inference = estimate_inference(parameters=10, largest_activation=100, input_elements=3, batch=2)
    assert inference == MemoryEstimate(40, 0, 0, 1600, 24, 2)


@pytest.mark.parametrize(("flags", "words"), [
    ({"batch_size": 4096}, "at batch 4096"),
    ({"model_config": {"resolution": 640, "ae_dims": 1024}}, "weights 14.1"),
])
def test_training_too_big_for_memory_is_refused_before_allocating(facesets: tuple[Path, Path], tmp_path: Path,
                                                                  flags: dict, words: str) -> None:
    settings = {"batch_size": flags["batch_size"]} if "batch_size" in flags else {}
    run = (f"train(TrainOptions(src={str(facesets[0])!r}, dst={str(facesets[1])!r}, "
           f"model_dir={str(tmp_path / 'model')!r}, model='saehd', model_config={flags.get('model_config', {})!r}, "
           f"settings={settings!r}, iterations=1, device='cpu'))")
    peak, output = run_peak(_LIMITED.format(
        imports="from recast.train.trainer import train\nfrom recast.train.options import TrainOptions", run=run))
    assert "refused: training saehd on cpu needs about" in output and words in output, output
    assert "lower --batch-size" in output and "Traceback" not in output, output
    assert peak < MAX_PEAK_MIB, f"peak {peak:.0f} MiB"
    assert not (tmp_path / "model" / "checkpoints").exists()


def test_merge_with_a_batch_too_big_for_memory_is_refused_before_loading(tmp_path: Path) -> None:
    import dataclasses

    from conftest import TINY_SAEHD
    from recast.models import checkpoint as ckpt
    from recast.models.registry import create_model

    model = create_model("saehd", **TINY_SAEHD)
    model_dir = tmp_path / "model"
    ckpt.write_model_config(model_dir, "saehd", dataclasses.asdict(model.config))
    ckpt.save_checkpoint(model_dir, 1, {f"model.{k}": v for k, v in model.state_dict().items()}, {}, {}, {})
    run = (f"merge({str(model_dir)!r}, {str(tmp_path / 'frames')!r}, {str(tmp_path / 'aligned')!r}, "
           f"{str(tmp_path / 'merged')!r}, batch_size=1 << 20)")
    peak, output = run_peak(_LIMITED.format(imports="from recast.merge.stage import merge", run=run))
    assert "refused: running saehd on cpu needs about" in output and "at batch 1048576" in output, output
    assert "lower --batch-size" in output and "Traceback" not in output, output
    assert peak < MAX_PEAK_MIB and not (tmp_path / "merged").exists()


def test_available_memory_follows_the_address_space_limit_and_unknown_never_refuses() -> None:
    """The machine's allowance is read, not assumed: under an RLIMIT_AS it is at most the limit; with no
    reading at all (``available`` None) nothing is refused."""
    import subprocess
    import sys

    code = ("import resource; from recast.models.memory import available_memory; "
            "free = available_memory(); limit = 6 << 30; "
            "resource.setrlimit(resource.RLIMIT_AS, (limit, limit)); "
            "capped = available_memory(); print(free, capped, limit)")
    free, capped, limit = (int(v) for v in subprocess.run([sys.executable, "-c", code], capture_output=True,
                                                          text=True, check=True).stdout.split())
    assert 0 < capped < limit and capped <= free
    huge = estimate_training(parameters=10**12, trainable=10**12, activation_elements=0, largest_activation=0,
                             input_elements=0, batch=1)
    check_fits(huge, None, "training a huge model", "lower --batch-size")
    with pytest.raises(OptionError, match=r"only 1\.0 GiB is available"):
        check_fits(huge, 1 << 30, "training a huge model", "lower --batch-size")
