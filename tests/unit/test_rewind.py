"""Before-images (domain.rewind) over random drop histories: undoing the steps after any point
from the newest state gives back exactly the state at that point, whatever the steps' sizes."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from pipelines.domain.fold import FoldState, apply_file, initial_state
from pipelines.domain.rewind import before_images, earliest, rewound
from tests.drop_histories import current_versions
from tests.unit.test_fold_properties import PROPERTY_SETTINGS, canonical, contract_ordered, histories, to_apply


@PROPERTY_SETTINGS
@given(histories(), st.randoms(use_true_random=False))
def test_undoing_the_steps_after_any_point_gives_the_state_at_that_point(case, rng: random.Random):
    history, scope, policy = case
    files = contract_ordered([to_apply(v, scope, policy) for v in current_versions(history)])
    states = [initial_state()]
    for f in files:
        states.append(apply_file(states[-1], f).state)
    # Random step boundaries, as folds of one or several files make them.
    cuts = sorted({0, len(files), *(rng.randrange(len(files) + 1) for _ in range(rng.randrange(4)))})
    images = [before_images(states[a], states[b]) for a, b in zip(cuts, cuts[1:], strict=False)]

    for k, point in enumerate(cuts[:-1]):
        back = rewound(states[-1], earliest(images[k:], initial_state()))
        assert canonical(back) == canonical(states[point])
    # Nothing undone: the state stays as it is.
    assert canonical(rewound(states[-1], earliest([], initial_state()))) == canonical(states[-1])


def test_images_hold_only_what_changed():
    state = initial_state()
    same = before_images(state, state)
    assert same.rows == 0
    assert all(getattr(state, n).height == getattr(rewound(state, same), n).height for n in FoldState.FRAMES)
