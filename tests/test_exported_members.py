import types

import modelpack


def test_all_is_sorted_and_complete() -> None:
    exported = modelpack.__all__
    assert exported == sorted(exported)
    public = {
        name
        for name in dir(modelpack)
        if not name.startswith("_")
        and name != "annotations"  # from __future__ import annotations
        and not isinstance(getattr(modelpack, name), types.ModuleType)
    }
    assert public == set(exported) - {"__version__"}
