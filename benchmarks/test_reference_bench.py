"""The plain reference every other figure is divided by.

Machines differ (AVX-512 or not, memory speed, a noisy neighbour), so docs/PERFORMANCE.md
gives each benchmark's median beside its ratio to this one, measured in the same run: a
plain NumPy pass over the benchmark chain's 10,000 float64 values (exp, multiply, add),
the kind of work the pricing code is made of. A ratio that moves between machines means
V6 changed, not the machine.
"""

from __future__ import annotations

import numpy as np


def test_reference_numpy_pass_10k(benchmark, chain):
    """exp, multiply and add over 10,000 float64 values, into a preallocated array."""
    x = chain.vol * np.sqrt(chain.t)
    out = np.empty_like(x)

    def plain_pass() -> np.ndarray:
        np.exp(x, out=out)
        np.multiply(out, chain.spot, out=out)
        np.add(out, chain.strike, out=out)
        return out

    result = benchmark(plain_pass)
    assert np.allclose(result, np.exp(x) * chain.spot + chain.strike)
