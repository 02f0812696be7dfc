"""A River bandit policy inside the engine against River's own bandit loop, on the same
environment, measured in one run.

The environment: K Bernoulli arms (harm 1 with probability ``means[a]``, reward 1 - harm),
the ``k_armed`` source of lowstakes. Every loop runs a fresh ``bandit.UCB(delta=1)`` for
``--n`` decisions and draws its own outcomes:

1. River's ``bandit.evaluate`` on a gymnasium environment with these arms (its own loop:
   ``pull``, ``env.step``, ``update``, a reward statistic, one dict per step);
2. the same loop by hand with the outcomes drawn in blocks of 4,096 as the engine draws them
   (River's loop without gymnasium's per-step draw or the dicts: the stricter baseline);
3. the lowstakes engine: one arm under bandit feedback, with everything it records per
   decision (exploration, regret against the oracle, the best action and action sequence).

Repetitions are interleaved so that machine noise hits every loop alike; the best of them
is kept. Target (issue 17): engine >= 0.8x River's own bandit loop.

    python benchmarks/bandit_speed.py [--n 50000] [--repeat 5]

Needs gymnasium for loop 1 (``pip install gymnasium``; without it loop 1 is skipped).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from river import bandit

import lowstakes
from lowstakes.simulation import simulate

MEANS = [0.3, 0.5, 0.7, 0.6]


def engine(n):
    scenario = lowstakes.Scenario.from_dict({
        "name": "bench", "horizon": n, "harm": {"matrix": "arms"},
        "stream": {"source": "k_armed", "params": {"means": MEANS}},
        "objectives": {"aligned": {"feedback_mode": "bandit"}},
        "learners": {"ucb": {"model": "bandit.UCB", "params": {"delta": 1.0, "seed": 1}}}})
    simulate(scenario, 0)


def by_hand(n):
    policy = bandit.UCB(delta=1.0, seed=1)
    rng = np.random.default_rng(0)
    arms, means = list(range(len(MEANS))), np.array(MEANS)
    for start in range(0, n, 4096):
        harmed = (rng.random((min(4096, n - start), len(MEANS))) < means).tolist()
        for row in harmed:
            arm = policy.pull(arms)
            policy.update(arm, 0.0 if row[arm] else 1.0)


def river_evaluate(n):
    for _ in bandit.evaluate([bandit.UCB(delta=1.0, seed=1)], _gym_env(n), n_episodes=1, seed=0):
        pass


def _gym_env(n):
    import gymnasium as gym

    class Arms(gym.Env):
        """K Bernoulli arms: reward 1 unless the pulled arm does harm (probability means[a])."""

        def __init__(self):
            self.action_space = gym.spaces.Discrete(len(MEANS))
            self.observation_space = gym.spaces.Discrete(1)
            self.steps = 0

        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            self.steps = 0
            return 0, {}

        def step(self, arm):
            self.steps += 1
            reward = 0.0 if self.np_random.random() < MEANS[arm] else 1.0
            return 0, reward, False, self.steps >= n, {}

    return Arms()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    loops = {"river bandit.evaluate (gymnasium)": river_evaluate, "river loop by hand": by_hand,
             "lowstakes engine": engine}
    try:
        import gymnasium  # noqa: F401
    except ImportError:
        del loops["river bandit.evaluate (gymnasium)"]
        print("gymnasium is not installed: River's bandit.evaluate is skipped")
    best = dict.fromkeys(loops, float("inf"))
    for _ in range(args.repeat):
        for name, loop in loops.items():
            started = time.perf_counter()
            loop(args.n)
            best[name] = min(best[name], time.perf_counter() - started)
    rate = {name: args.n / seconds for name, seconds in best.items()}
    print(f"bandit.UCB on {len(MEANS)} Bernoulli arms, {args.n:,} decisions, best of {args.repeat} "
          "interleaved\n")
    for name, r in rate.items():
        print(f"  {name:36s} {r:10,.0f} decisions/s")
    engine_rate = rate["lowstakes engine"]
    print()
    for name, r in rate.items():
        if name != "lowstakes engine":
            print(f"  engine / {name}: {engine_rate / r:.2f}x")


if __name__ == "__main__":
    main()
