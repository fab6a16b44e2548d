"""Golden cases for ``gradient_accumulator`` (transformers' TF GradientAccumulator)."""

from ._build import AccumulatorCase, AccumulatorGroup, grad_sequence, normal

SHAPES = {"scalar": (), "vector": (3,), "matrix": (2, 3), "kernel4": (2, 2, 2, 2)}
TWO_TO_MINUS_24 = 2.0**-24
TENTH_F32 = 0.100000001490116119384765625  # float32(0.1)


def _calls(seed: int, shapes: dict, count: int) -> list[dict]:
    return [{"call": list(step.values())} for step in grad_sequence(seed, shapes, count)]


def _cases(seed: int) -> list[AccumulatorCase]:
    return [
        AccumulatorCase(
            name="spec-anchor",
            events=[
                {"call": [[1.0, 2.0]]},
                {"call": [[-2.0, 1.0]]},
                {"call": [[-1.0, 2.0]]},
                {"call": [[1.0, 1.0], [1.0, 1.0]]},
                {"reset": True},
            ],
            description="transformers' test: [1,2]+[−2,1]+[−1,2] = [−2,5] at step 3; two gradients raise; reset zeroes",
        ),
        AccumulatorCase(
            name="empty-first-call",
            events=[{"call": []}, {"reset": True}, {"call": [[1.0, 2.0]]}, {"call": [[0.5, 0.5]]}],
            description="a call with no gradients creates no slot: still uninitialized (reset is a no-op, the step counts on)",
        ),
        AccumulatorCase(
            name="count-error-then-continue",
            events=[
                {"call": [[1.0], [2.0]]},
                {"call": [[3.0]]},
                {"call": [[1.0], [2.0], [3.0]]},
                {"call": [[0.5], [0.25]]},
            ],
            description="too few and too many gradients raise without touching sums or step; later calls go on",
        ),
        AccumulatorCase(
            name="none-grads",
            events=[
                {"call": [[1.0, 2.0], None, [3.0]]},
                {"call": [[1.0, 1.0], [5.0, 5.0], [1.0]]},
                {"call": [None, None, [-4.0]]},
                {"reset": True},
                {"call": [[2.0, 2.0], [7.0, 7.0], None]},
            ],
            description="a None gradient at the first call leaves a None slot for good; mismatched None pairs are skipped",
        ),
        AccumulatorCase(
            name="shapes",
            events=_calls(seed, SHAPES, 3) + [{"reset": True}] + _calls(seed + 1, SHAPES, 2),
            description="0-D to 4-D gradients summed per slot, reset, summed again",
        ),
        AccumulatorCase(
            name="rounding",
            events=[{"call": [[1.0, 16777216.0, TENTH_F32]]}] + [{"call": [[TWO_TO_MINUS_24, 1.0, TENTH_F32]]}] * 4,
            description="each addition rounds to the dtype: in float32 1 + 2⁻²⁴ = 1 and 2²⁴ + 1 = 2²⁴ (ties to even)",
        ),
        AccumulatorCase(
            name="reset-before-first-call",
            events=[
                {"reset": True},
                {"call": [[1.5], [-2.5, 0.5]]},
                {"reset": True},
                {"reset": True},
                {"call": [[0.25], [1.0, 1.0]]},
            ],
            description="reset before the first call is a no-op: no sums yet, step 0",
        ),
        AccumulatorCase(
            name="special-values",
            events=[
                {"call": [[float("inf"), float("-inf"), 1.0, float("nan")]]},
                {"call": [[float("-inf"), float("-inf"), float("inf"), 1.0]]},
                {"reset": True},
            ],
            flags=("special-values",),
            description="IEEE sums: inf + (−inf) = NaN, NaN stays NaN; reset clears them",
        ),
        AccumulatorCase(
            name="many-calls",
            events=[{"call": [normal(seed + 10 + i, (4,), scale=3.0)]} for i in range(12)],
            description="twelve calls: every partial sum rounded once per addition",
        ),
    ]


GROUPS = [
    AccumulatorGroup(name="semantics", dtype="float32", cases=_cases(50000), description="float32 slots, the dtype TF used"),
    AccumulatorGroup(name="semantics", dtype="float64", cases=_cases(60000), description="float64 slots"),
]
