"""lowstakes: a testbed for low-stakes alignment.

Online River learners make bounded-harm decisions on a shifting stream simulated with
SimPy, once per objective (aligned, or a proxy); the tool measures regret, the cost of
each transition window and the time to recover.

>>> import lowstakes
>>> sorted(lowstakes.SOURCES.names())
['agrawal', 'contextual', 'friedman', 'hyperplane', 'image_segments', 'k_armed', 'led', 'phishing',
 'random_rbf', 'sea', 'sine', 'stagger']
"""

from lowstakes import multiclass  # noqa: F401  (registers the sources of several classes)
from lowstakes.errors import HarmBoundError, IncompleteRunError, LowstakesError, ScenarioError
from lowstakes.objectives import FEEDBACK, Feedback
from lowstakes.results import RunResult, load
from lowstakes.runner import run
from lowstakes.scenario import Scenario, load_scenario
from lowstakes.simulation import simulate
from lowstakes.streams import SOURCES, Source
from lowstakes.sweeps import load_sweep, sweep

__version__ = "0.1.0"

__all__ = [
    "FEEDBACK", "Feedback", "HarmBoundError", "IncompleteRunError", "LowstakesError",
    "RunResult", "SOURCES", "Scenario", "ScenarioError", "Source", "load", "load_scenario",
    "run", "simulate", "sweep", "load_sweep",
]
