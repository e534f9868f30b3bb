"""Queueing theory's answers, from the formulas, to check the simulator against.

- Erlang C (M/M/c, callers wait as long as it takes): the share of callers who wait,
  C(c, a) = c B / (c - a (1 - B)) with B the Erlang B blocking probability, computed by its
  recursion B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1)); a = lambda / mu < c.
- Erlang A (M/M/c+M, Palm; Garnett, Mandelbaum and Reiman 2002): the birth-death chain of
  callers in the system, birth rate lambda, death rate min(n, c) mu + max(n - c, 0) theta.
  Its stationary law gives the abandonment probability theta E[queue] / lambda; the answer
  rate is one minus that.
"""

from __future__ import annotations


def erlang_b(c: int, a: float) -> float:
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """Probability that a caller waits (offered load a Erlangs, c lines, a < c)."""
    if a >= c:
        return 1.0
    b = erlang_b(c, a)
    return c * b / (c - a * (1 - b))


def erlang_a_answered(c: int, lam: float, mu: float, theta: float) -> float:
    """Share of callers served in M/M/c+M (exponential patience of mean 1 / theta)."""
    if theta <= 0:
        raise ValueError("Erlang A needs a finite patience (theta > 0); use erlang_c")
    weights, w, n = [1.0], 1.0, 0
    while True:
        n += 1
        w *= lam / (min(n, c) * mu + max(n - c, 0) * theta)
        weights.append(w)
        if n > c and w < 1e-16 * sum(weights):
            break
    total = sum(weights)
    queue = sum((k - c) * p for k, p in enumerate(weights) if k > c) / total
    return 1 - theta * queue / lam
