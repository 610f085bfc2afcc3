"""The README's worked example runs as written (a small budget, checked against its exact solution)."""

import re
from pathlib import Path


from pinnlab import load_problem, resolve_settings, solve

README = Path(__file__).resolve().parents[2] / "README.md"


def test_worked_example_runs_and_is_accurate(tmp_path):
    text = README.read_text()
    section = text[text.index("### Worked example"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    path = tmp_path / "wave.py"
    path.write_text(code)
    problem = load_problem(path)
    assert problem.name == "wave" and set(problem.conditions) == {"initial", "at_rest", "clamped"}

    # undamped check of the same module shape: the exact standing wave sin(pi x) cos(pi t)
    undamped = path.read_text().replace("damping = 0.1", "damping = 0.0")
    undamped += "\nreference = Exact(lambda x, t: torch.sin(math.pi * x) * torch.cos(math.pi * t))\n"
    path.write_text(undamped)
    problem = load_problem(path)
    settings = resolve_settings(problem, {"adam.steps": 200, "lbfgs.steps": 500, "sampling.points": 1000,
                                          "output.progress": False, "output.grid": (21, 21)})
    result = solve(problem, settings, tmp_path / "out")
    assert result.metrics["rel_l2"]["u"] < 5e-2
