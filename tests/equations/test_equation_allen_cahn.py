"""equations/allen_cahn.py with few collocation points: time marching solves it where the whole
interval does not: marching at most 1e-2 where the whole interval stays above 1e-1.

With 250 points on the whole of [-1, 1] x [0, 1], the module's optimizer fits them with a wrong
solution (relative L2 error 0.50 to 0.96 on seeds 0-11, `docs/benchmarks/allen-cahn.md`);
marching in 10 windows gives each window its own 250 points and reached 1.4e-3 to 4.8e-3 on
the same seeds. So this test fails if marching stops handing over between windows, or if the
curriculum settings stop reaching the trainer.
"""

from pinnlab import load_problem, resolve_settings, solve


def test_marching_with_250_points_is_within_one_percent_of_the_reference(tmp_path):
    problem = load_problem("equations/allen_cahn.py")
    settings = resolve_settings(problem, {
        "sampling.points": 250, "sampling.sampler": "uniform", "curriculum.windows": 10,
        "curriculum.mode": "march",
        "numerics.threads": 1, "output.progress": False,
    })
    result = solve(problem, settings, tmp_path)
    ends = [round(w["t_end"], 12) for w in result.metrics["time_windows"]]
    assert ends == [round(0.1 * k, 12) for k in range(1, 11)]
    assert result.metrics["rel_l2"]["u"] <= 1e-2  # seed 0 gave 4.8e-3, the largest of seeds 0-11
