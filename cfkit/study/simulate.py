"""Simulated volunteers for load tests and the submit-latency benchmark: N volunteers at once, each
completing its whole plan; optionally every trial submitted twice at the same moment (a double click)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from cfkit.study import volunteer as v
from cfkit.study.db import Database


@dataclass
class SimResult:
    codes: list[str] = field(default_factory=list)
    trials: int = 0  # trials answered
    accepted: int = 0  # submits that stored something (must equal ``trials``)
    latencies_s: list[float] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_s, q)) if self.latencies_s else float("nan")


def _answers(t: v.TrialView, rng: np.random.Generator) -> dict:
    out = {}
    for c in t.criteria:
        if t.response_format == "pairwise":
            out[c] = t.outputs[int(rng.integers(len(t.outputs)))]
        elif t.response_format == "rank":
            out[c] = dict(zip(t.outputs, (rng.permutation(len(t.outputs)) + 1).tolist(), strict=True))
        else:
            out[c] = {o: int(rng.integers(1, 6)) for o in t.outputs}
    return out


def simulate(
    db: Database, study: str, volunteers: int = 20, double_submit: bool = True, seed: int = 0, think_s: float = 0.0
) -> SimResult:
    """Run ``volunteers`` threads released together by a barrier; returns counts and per-submit latencies.

    ``think_s``: each volunteer pauses a random 0..2*think_s seconds before answering (0: back-to-back burst).
    """
    res = SimResult()
    lock = threading.Lock()
    barrier = threading.Barrier(volunteers)
    codes = [v.start_participant(db, study) for _ in range(volunteers)]
    res.codes = codes
    clicker = ThreadPoolExecutor(max_workers=volunteers) if double_submit else None

    def run(k: int) -> None:
        rng = np.random.default_rng(seed + k)
        barrier.wait()
        while (t := v.current_trial(db, study, codes[k])) is not None:
            ans = _answers(t, rng)
            if think_s:
                time.sleep(rng.uniform(0, 2 * think_s))
            t0 = time.perf_counter()
            if clicker:
                twin = clicker.submit(v.submit, db, study, codes[k], t.trial_id, ans)
                stored = int(v.submit(db, study, codes[k], t.trial_id, ans)) + int(twin.result())
            else:
                stored = int(v.submit(db, study, codes[k], t.trial_id, ans))
            dt = time.perf_counter() - t0
            with lock:
                res.trials += 1
                res.accepted += stored
                res.latencies_s.append(dt)

    try:
        with ThreadPoolExecutor(max_workers=volunteers) as pool:
            for f in [pool.submit(run, k) for k in range(volunteers)]:
                f.result()
    finally:
        if clicker:
            clicker.shutdown()
    return res


if __name__ == "__main__":  # python -m cfkit.study.simulate DB STUDY VOLUNTEERS SEED -> "trials accepted"
    import sys

    from cfkit.study.db import open_db

    db_arg, study_arg, n_arg, seed_arg = sys.argv[1:5]
    r = simulate(open_db(db_arg, create=False), study_arg, volunteers=int(n_arg), seed=int(seed_arg))
    print(r.trials, r.accepted)
