"""Which kinds commander's uninstall deletes first and looks at again while it waits (pure)."""

from __future__ import annotations

from typing import Any

from airpool.commander import kinds, uninstall


def test_the_next_look_keeps_what_controllers_can_still_make() -> None:
    """Pure: after a look, only the kinds that held something are looked at again, plus Jobs, ReplicaSets and pods
    while anything that makes them is left."""
    every = kinds.NAMESPACED_KINDS
    by_name = {k.kind: k for k in every}

    def held(*names: str) -> Any:
        return uninstall._Look(ours={k: ([object()] if k.kind in names else []) for k in every})

    assert uninstall._next_look(held(), every) == ()
    assert {k.kind for k in uninstall._next_look(held("ConfigMap"), every)} == {"ConfigMap"}
    assert {k.kind for k in uninstall._next_look(held("Deployment", "Secret"), every)} == {
        "Deployment",
        "Secret",
        "Job",
        "ReplicaSet",
        "Pod",
    }
    assert {k.kind for k in uninstall._next_look(held("Pod"), every)} == {"Job", "ReplicaSet", "Pod"}
    order = uninstall._deletion_order([by_name[n] for n in ("Secret", "Service", "ConfigMap", "Deployment")])
    assert [k.kind for k in order] == ["Deployment", "Service", "Secret", "ConfigMap"]
