"""Image-disjoint, stratified, deterministic assignment of image groups to splits.

A group is every question on one image (same sha256 of the file content). Each split gets at most its
requested number of questions. Each stratum (category and gold letter) gets a quota in every split in
proportion to the split's size; groups are placed greedily, largest first (in a seeded order), each into
the split with the largest remaining share of quota for the group's strata; a final pass tops up splits
that whole groups left short with the smallest unused groups.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence

UNUSED = "_unused"


def seeded_key(seed: int, *parts: object) -> str:
    """A stable pseudo-random sort key (independent of input order and of Python's hash seed)."""
    return hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).hexdigest()


def assign_groups(
    groups: Mapping[str, Sequence[str]], sizes: Mapping[str, int], seed: int
) -> dict[str, list[str]]:
    """Map split name -> group keys. `groups` maps a group key to the stratum label of each of its questions."""
    if any(n < 0 for n in sizes.values()):
        raise ValueError(f"split sizes must be >= 0, got {dict(sizes)}")
    totals = Counter(label for labels in groups.values() for label in labels)
    n_items, requested = sum(totals.values()), sum(sizes.values())
    scale = 1.0 / max(n_items, requested, 1)
    target = {s: {k: size * n * scale for k, n in totals.items()} for s, size in sizes.items()}
    target[UNUSED] = {k: max(n - sum(target[s][k] for s in sizes), 0.0) for k, n in totals.items()}
    placed: dict[str, Counter] = {s: Counter() for s in target}
    left = dict(sizes)
    chosen: dict[str, list[str]] = {s: [] for s in target}

    order = sorted(groups, key=lambda g: (-len(groups[g]), seeded_key(seed, g)))
    for key in order:
        counts = Counter(groups[key])
        candidates = [s for s in sizes if left[s] >= len(groups[key])] + [UNUSED]
        best = max(candidates, key=lambda s: (_relative_need(target[s], placed[s], counts), s != UNUSED))
        chosen[best].append(key)
        placed[best].update(counts)
        if best != UNUSED:
            left[best] -= len(groups[key])

    # Top up: whole groups may leave a split short although smaller unused groups would fit.
    for key in sorted(chosen[UNUSED], key=lambda g: (len(groups[g]), seeded_key(seed, g))):
        fits = [s for s in sizes if left[s] >= len(groups[key])]
        if fits:
            split = max(fits, key=lambda s: left[s])
            chosen[split].append(key)
            left[split] -= len(groups[key])
    return {s: chosen[s] for s in sizes}


def _relative_need(target: Mapping[str, float], placed: Counter, counts: Counter) -> float:
    """How much of a split's remaining per-stratum quota the group would fill, relative to the quota."""
    return sum(c * (target[k] - placed[k]) / max(target[k], 1e-9) for k, c in counts.items())
