"""optimspec.torch's optimizers and schedules under DDP and FSDP2 (gloo, two CPU processes) end
10 steps where one process ends, on every implementation path.

One job (``dist_worker.py train``) runs every case; see ``dist_training.py`` for the model (which
params FSDP2 shards along which dimension, and why), the cases and the float32 budget.
"""

from __future__ import annotations


import dist_training as training
import pytest
import torch

RUN_IDS = training.run_ids()
ADAFACTOR_RUN_IDS = [run_id for run_id in RUN_IDS if run_id.startswith("adafactor")]
ADAMW_RUN_IDS = [run_id for run_id in RUN_IDS if run_id.startswith("adamw")]
EXPECTED_FACTORED_LAYOUT = {
    # param (FSDP2 placement): row statistic (mean over dim -1), column statistic (mean over dim -2)
    "0.weight": ("(Shard(dim=0),)", "(Replicate(),)"),  # rows sharded: the row statistic keeps them
    "2.weight": ("(Replicate(),)", "(Shard(dim=0),)"),  # columns sharded: the column statistic keeps them
    "4.weight": ("(Shard(dim=0),)", "(Replicate(),)"),
}


@pytest.fixture(scope="module")
def results(train_results):
    return train_results


def assert_same_params(actual: dict, expected: dict, what: str) -> None:
    for name, e in expected["params"].items():
        assert torch.equal(actual["params"][name], e), f"{what}: {name} differs"


def assert_within_budget(actual: dict, expected: dict, what: str) -> None:
    error = training.error_in_eps(actual["params"], expected["params"])
    assert error <= training.BUDGET_EPS, f"{what}: params {error:.1f} ε from one process (budget {training.BUDGET_EPS} ε)"
    lr_error = training.error_in_eps(
        {"lrs": torch.tensor(actual["lrs"], dtype=torch.float64)},
        {"lrs": torch.tensor(expected["lrs"], dtype=torch.float64)},
    )
    assert lr_error <= training.BUDGET_EPS, f"{what}: learning rates {lr_error:.1f} ε from one process"


@pytest.mark.parametrize("run_id", RUN_IDS)
def test_ddp_ends_where_one_process_ends(results, run_id: str) -> None:
    ranks = [results.get(f"ddp/{run_id}", rank) for rank in range(training.WORLD_SIZE)]
    assert_same_params(ranks[1], ranks[0], "DDP replicas diverged")
    # DDP's all-reduce averages the per-rank gradients: bit for bit one process doing the same.
    averaged = results.get(f"averaged/{run_id}", rank=1)
    assert_same_params(ranks[0], averaged, "DDP vs one process averaging the ranks' gradients")
    assert ranks[0]["lrs"] == averaged["lrs"]
    assert_within_budget(ranks[0], results.get(f"single/{run_id}"), "DDP vs one process on the whole batch")


@pytest.mark.parametrize("run_id", RUN_IDS)
def test_fsdp2_ends_where_one_process_ends(results, run_id: str) -> None:
    assert_within_budget(results.get(f"fsdp/{run_id}"), results.get(f"single/{run_id}"), "FSDP2")


@pytest.mark.parametrize("run_id", ADAFACTOR_RUN_IDS)
def test_a_per_shard_adafactor_fails_the_fsdp2_check(results, run_id: str) -> None:
    """The negative control: statistics over each rank's shard instead of the whole tensor."""
    per_shard = results.get(f"fsdp-per-shard/{run_id}")
    single = results.get(f"single/{run_id}")
    with pytest.raises(AssertionError, match="ε from one process"):
        assert_within_budget(per_shard, single, "per-shard Adafactor")
    assert training.error_in_eps(per_shard["params"], single["params"]) > 1000 * training.BUDGET_EPS


@pytest.mark.parametrize("run_id", ADAMW_RUN_IDS)
def test_a_per_shard_adamw_passes_it(results, run_id: str) -> None:
    """AdamW is elementwise, so the same per-shard wrapper is right for it: the control fails
    Adafactor for its statistics, not for the wrapper."""
    assert_within_budget(results.get(f"fsdp-per-shard/{run_id}"), results.get(f"single/{run_id}"), "per-shard AdamW")


@pytest.mark.parametrize("run_id", RUN_IDS)
def test_fsdp2_state_is_sharded_with_its_param(results, run_id: str) -> None:
    layout = results.get(f"fsdp/{run_id}")["state_layout"]
    param_placement = {name: "(Shard(dim=1),)" if name == "2.weight" else "(Shard(dim=0),)" for name in layout}
    for name, entries in layout.items():
        assert entries["step"] == "int"
        for key in ("exp_avg", "exp_avg_sq"):  # moments of AdamW, Adafactor's first moment and 1-D second moment
            if key in entries:
                assert entries[key] == param_placement[name], f"{name}.{key}"
        if "exp_avg_sq_row" in entries:
            assert (entries["exp_avg_sq_row"], entries["exp_avg_sq_col"]) == EXPECTED_FACTORED_LAYOUT[name], name
        if "RMS" in entries:
            assert entries["RMS"] == "(Replicate(),)", name


@pytest.mark.parametrize("run_id", RUN_IDS)
def test_only_adafactor_communicates_in_its_step(results, run_id: str) -> None:
    collectives = results.get(f"fsdp/{run_id}")["step_collectives"]
    if run_id in ADAMW_RUN_IDS:
        assert collectives == {}, "AdamW is elementwise: its step needs no communication"
    else:
        assert collectives.get("c10d_functional.all_reduce", 0) > 0, collectives
        assert set(collectives) <= {"c10d_functional.all_reduce", "c10d_functional.all_gather_into_tensor"}
    assert results.get(f"ddp/{run_id}")["step_collectives"] == {}, "DDP's optimizer works on plain tensors"
