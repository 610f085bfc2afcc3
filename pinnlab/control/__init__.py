"""Neural feedback laws trained as constrained optimization (differentiable predictive control),
with model predictive control (CasADi + IPOPT) as the baseline; ``pinnlab control``."""

from pinnlab.control.api import held_out_states, run_control, summary
from pinnlab.control.mpc import MPC, mpc_closed_loop
from pinnlab.control.policy import Policy
from pinnlab.control.problem import ControlProblem, define_control, load_control
from pinnlab.control.rollout import Integrator, Trajectory, closed_loop, margins, plant_step
from pinnlab.control.training import ControlSettings, TrainedPolicy, resolve_settings, train_policy

__all__ = ["MPC", "ControlProblem", "ControlSettings", "Integrator", "Policy", "TrainedPolicy", "Trajectory",
           "closed_loop", "define_control", "held_out_states", "load_control", "margins", "mpc_closed_loop",
           "plant_step", "resolve_settings", "run_control", "summary", "train_policy"]
