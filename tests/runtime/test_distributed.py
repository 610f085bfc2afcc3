"""Data-parallel training under torchrun: two CPU processes (gloo) train like one process on the
union of their points, and only rank 0 writes or prints."""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from pinnlab.runtime import distributed
from pinnlab import load_problem, resolve_settings
from pinnlab.training.checkpoint import CheckpointError
from pinnlab.commands.main import main
from pinnlab.training.collocation import concat_collocations, rank_share, rank_share_seed, sample_collocation
from pinnlab.model.field_model import build_model
from pinnlab.geometry.sampling import make_sampler
from pinnlab.training.hooks import Hook
from pinnlab.training.plan import build_training
from pinnlab.training.state import own_part

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN_ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK")
# a tiny heat problem: 30 Adam steps, then 20 L-BFGS iterations, losses logged every 5 steps
SETTINGS = {"network.width": 8, "network.depth": 2, "sampling.points": 200, "sampling.boundary_points": 40,
            "adam.steps": 30, "lbfgs.steps": 20,
            "numerics.dtype": "float64", "numerics.threads": 1, "output.log_every": 5, "output.grid": (11, 6)}
CLI_SETTINGS = ["--points", "200", "--boundary-points", "40", "--steps", "30", "--lbfgs-steps", "20",
                "--dtype", "float64", "--set", "network.width=8", "--set", "network.depth=2", "--set", "numerics.threads=1",
                "--set", "output.log_every=5", "--set", "output.grid=11x6"]

# Runs `python -m pinnlab` in each rank with its stdout and stderr in rank<k>.out/.err and every
# file-system write under WATCH_DIR (opened for writing, created, renamed, removed) listed in
# writes<k>.json, through Python's audit hooks; HDF5's own writes land via an audited rename.
AUDITED_LAUNCHER = textwrap.dedent("""
    import atexit, json, os, runpy, sys

    rank, logs, watched = os.environ["RANK"], os.environ["LOG_DIR"], os.environ["WATCH_DIR"]
    for fd, suffix in ((1, "out"), (2, "err")):
        os.dup2(os.open(os.path.join(logs, f"rank{rank}.{suffix}"), os.O_WRONLY | os.O_CREAT), fd)
    writes = []
    WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND

    def hook(event, args):
        if event == "open":
            path, mode, flags = args
            if not (any(c in (mode or "") for c in "wax+") or (mode is None and flags & WRITE_FLAGS)):
                return
        elif event in ("os.rename", "os.mkdir", "os.remove", "os.rmdir"):
            path = args[1] if event == "os.rename" else args[0]
        else:
            return
        if isinstance(path, (str, bytes, os.PathLike)) and os.path.abspath(os.fsdecode(path)).startswith(watched):
            writes.append(f"{event} {os.fsdecode(path)}")

    def dump():
        with open(os.path.join(logs, f"writes{rank}.json"), "w") as f:
            json.dump(writes, f)

    atexit.register(dump)
    sys.addaudithook(hook)
    runpy.run_module("pinnlab", run_name="__main__")
""")


# In each rank: train uninterrupted; train again, interrupted at step 70 (inside L-BFGS, after
# RAR refinements); resume that from its last checkpoint (step 60); print whether the runs agree.
RESUME_SCRIPT = textwrap.dedent("""
    import math, sys, torch, torch.distributed as dist
    from pinnlab import Dirichlet, Interval, Problem, resolve_settings
    from pinnlab.runtime import distributed
    from pinnlab.training.checkpoint import CheckpointStore
    sys.path.insert(0, sys.argv[2])  # the tests folder
    from test_checkpoints import Interrupt, run_until

    problem = Problem.define("poisson1d", domain=Interval(0.0, 1.0), conditions={"ends": Dirichlet(0.0)},
                             residual=lambda u_xx, x: u_xx + math.pi**2 * torch.sin(math.pi * x))
    settings = resolve_settings(problem, {
        "progress": False, "log_every": 10, "checkpoint_every": 20, "points": 200, "boundary_points": 8,
        "width": 12, "depth": 2, "steps": 40, "lbfgs_steps": 40, "threads": 1,
        "refine": "rar", "refine_points": 10, "refine_every": 20})

    def run(store, stop_at=None, resume=False):
        return run_until(problem, settings, store, stop_at, resume)

    with distributed.session("cpu"):
        whole, whole_model = run(CheckpointStore(sys.argv[1] + "/whole"))
        store = CheckpointStore(sys.argv[1] + "/split")
        try:
            run(store, stop_at=65)
        except Interrupt:
            pass
        dist.barrier()  # rank 0 has written the checkpoint the others read
        part, part_model = run(store, resume=True)
        same = all(torch.equal(a, b) for a, b in zip(whole_model.state_dict().values(),
                                                      part_model.state_dict().values()))
        print(f"rank {distributed.rank()}: resumed from {part.resumed_from}, identical {same}, "
              f"history {whole.history == part.history}, points {len(part.collocation.interior)}")
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def no_torchrun(monkeypatch):
    for name in TORCHRUN_ENV:
        monkeypatch.delenv(name, raising=False)


def torchrun_env(**extra: str) -> dict[str, str]:
    """This environment, one thread per process, pinnlab importable, no torchrun variables."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **extra,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    for name in TORCHRUN_ENV:
        env.pop(name, None)
    return env


def torchrun(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``args`` run in 2 processes by torchrun from the repository root."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               f"--master_port={free_port()}", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory):
    """One torchrun job of 2 processes on equations/heat.py (about 10 s on 2 cores)."""
    tmp = tmp_path_factory.mktemp("torchrun")
    out, logs = tmp / "out", tmp / "logs"
    logs.mkdir()
    launcher = tmp / "audited_pinnlab.py"
    launcher.write_text(AUDITED_LAUNCHER)
    done = torchrun(str(launcher), "solve", "equations/heat.py", *CLI_SETTINGS, "--out", str(out),
                    env=torchrun_env(LOG_DIR=str(logs), WATCH_DIR=str(out)))
    assert done.returncode == 0, done.stderr + "".join(p.read_text() for p in logs.glob("rank*"))
    return out, logs


def union_of_shares(problem, settings, world=2):
    """The points the ranks of a torchrun job draw, concatenated in rank order."""
    share, _ = rank_share(settings.sampling, settings.refine, world)
    return concat_collocations([
        sample_collocation(problem, share, make_sampler(share.sampler, seed=rank_share_seed(settings.numerics.seed, rank)),
                           torch.float64, torch.device("cpu"))
        for rank in range(world)
    ])


def test_two_processes_train_like_one_process_on_the_union_of_their_points(two_rank_run, no_torchrun):
    out, _ = two_rank_run
    problem = load_problem(ROOT / "equations/heat.py")
    settings = resolve_settings(problem, {**SETTINGS, "output.progress": False})
    union = union_of_shares(problem, settings)
    assert len(union.interior) == 200 and all(len(b.points) == 40 for b in union.conditions.values())

    torch.manual_seed(settings.numerics.seed)
    model = build_model(problem, settings)
    class Union(Hook):
        def start(self, context):
            context.collocation = union  # one process, exactly the two ranks' points

    training = build_training(problem, model, settings)
    training.hooks.insert(0, Union())
    single = training.run()

    # Not bit-exact: the ranks' mean losses and gradients are summed by an all-reduce, a different
    # order of floating-point additions than one mean over the union. Adam steps agree to ~1e-16;
    # L-BFGS amplifies round-off (merely reordering one process's points moves the parameters by
    # ~4e-11 after these 20 iterations), hence atol 1e-10 on the parameters.
    with h5py.File(out / "fields.h5", "r") as f:
        np.testing.assert_array_equal(f["loss_history/step"][()], single.history["step"])
        for term in ("total", "residual", "initial", "walls"):
            np.testing.assert_allclose(f["loss_history"][term][()], single.history[term], rtol=1e-8, atol=0)
        np.testing.assert_array_equal(f["points/interior/coordinates"][()], union.interior.numpy())
        np.testing.assert_array_equal(f["points/walls/coordinates"][()], union.conditions["walls"].points.numpy())
    saved = torch.load(out / "model.pt", weights_only=True)["state_dict"]
    for name, value in model.state_dict().items():
        torch.testing.assert_close(saved[name], value, rtol=1e-8, atol=1e-10)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["settings"]["sampling"]["points"] == 200
    assert metrics["steps"] == single.steps and metrics["lbfgs_iterations"] == single.lbfgs_iterations


def test_only_rank_0_writes_files_and_prints(two_rank_run):
    out, logs = two_rank_run
    assert json.loads((logs / "writes1.json").read_text()) == []
    assert (logs / "rank1.out").read_text() == "" and (logs / "rank1.err").read_text() == ""
    rank0 = json.loads((logs / "writes0.json").read_text())
    assert any(w.endswith("metrics.json") for w in rank0) and any("checkpoints" in w for w in rank0)
    assert "results written to" in (logs / "rank0.out").read_text()
    assert "heat" in (logs / "rank0.err").read_text()  # the progress bar
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoints", "collocation.png", "fields.h5", "fields.xdmf", "loss.png", "metrics.json",
        "model.pt", "solution.png"]


def test_checkpoint_holds_every_ranks_points_and_refuses_another_world(two_rank_run, no_torchrun):
    out, _ = two_rank_run
    state = torch.load(out / "checkpoints/last.pt", weights_only=True)
    problem = load_problem(ROOT / "equations/heat.py")
    union = union_of_shares(problem, resolve_settings(problem, SETTINGS))
    assert state["world"] == 2
    interiors = [part["collocation"]["interior"] for part in state["ranks"]]
    np.testing.assert_array_equal(torch.cat(interiors).numpy(), union.interior.numpy())
    assert [part["sampler"]["seed"] for part in state["ranks"]] == [0, rank_share_seed(0, 1)]
    assert own_part(state, 1, 2)["collocation"]["interior"] is interiors[1]
    with pytest.raises(CheckpointError, match="written by 2 process.*this run has 1"):
        own_part(state, 0, 1)


def test_resumed_two_process_run_ends_bit_identical_to_uninterrupted(tmp_path):
    script = tmp_path / "resume.py"
    script.write_text(RESUME_SCRIPT)
    done = torchrun(str(script), str(tmp_path), str(Path(__file__).parents[1] / "training"), env=torchrun_env())
    assert done.returncode == 0, done.stderr
    for rank in (0, 1):  # 200 points, then 3 refinements adding 5 points on each of the 2 ranks
        assert f"rank {rank}: resumed from 60, identical True, history True, points 230" in done.stdout, done.stdout


def test_uneven_split_is_refused_before_joining_the_other_ranks(tmp_path, monkeypatch, capsys):
    # rank 0 of 2 with no rendezvous address: reaching the process group would fail differently
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    status = main(["solve", str(ROOT / "equations/heat.py"), "--points", "201", "--out", str(tmp_path / "out"),
                   "--quiet"])
    assert status == 2
    error = capsys.readouterr().err
    assert "sampling.points=201 cannot be split evenly over 2 processes" in error and "(rank 0 of 2)" in error
    assert not (tmp_path / "out").exists()
    settings = resolve_settings(load_problem(ROOT / "equations/heat.py"), {"sampling.boundary_points": 41})
    with pytest.raises(ValueError, match="sampling.boundary_points=41 cannot be split evenly over 2"):
        rank_share(settings.sampling, settings.refine, 2)
    with pytest.raises(ValueError, match="sampling.sampler=grid"):
        grid = settings.replace({"sampling.boundary_points": 40, "sampling.sampler": "grid"}, "test")
        rank_share(grid.sampling, grid.refine, 2)


def test_without_torchrun_everything_is_a_no_op(no_torchrun):
    assert not distributed.active() and distributed.world() == 1 and distributed.rank() == 0
    assert distributed.is_main()
    settings = resolve_settings(load_problem(ROOT / "equations/heat.py"))
    sampling, refinement = rank_share(settings.sampling, settings.refine, 1)
    assert sampling is settings.sampling and refinement is settings.refine
    assert rank_share_seed(7, 0) == 7
    loss = torch.tensor([1.0, 2.0])
    assert distributed.all_reduce_mean(loss) is loss
    weight = torch.nn.Parameter(torch.ones(3))
    weight.grad = grad = torch.full((3,), 2.0)
    distributed.all_reduce_gradients([weight])
    assert weight.grad is grad
    with distributed.session("cpu"):
        assert not torch.distributed.is_initialized()
