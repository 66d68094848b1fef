"""Which supervision tree runs the station for each OCPP version.

The version-neutral parts (runtime, link, storage, EVSEs) are the same for
every version; a version contributes its feature blocks and its routing
table through the tree it builds. Adding a version is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ocppstation.actors.runtime.context import StationContext
from ocppstation.actors.runtime.supervisor import ChildSpec
from ocppstation.actors.v16.tree import station_tree as v16_tree
from ocppstation.actors.v201.tree import station_tree as v201_tree
from ocppstation.protocol.errors import OcppVersion

TreeBuilder = Callable[[StationContext], list[ChildSpec]]

TREES: Mapping[OcppVersion, TreeBuilder] = {
    OcppVersion.V16: v16_tree,
    OcppVersion.V201: v201_tree,
}


class UnsupportedVersion(ValueError):
    def __init__(self, version: OcppVersion) -> None:
        supported = ", ".join(v.value for v in TREES)
        super().__init__(f"OCPP version {version.value} is not supported (supported: {supported})")
        self.version = version


def station_tree(ctx: StationContext) -> list[ChildSpec]:
    """The children of the station's root supervisor, for the version in use."""
    version = ctx.config.ocpp_version
    builder = TREES.get(version)
    if builder is None:
        raise UnsupportedVersion(version)
    return builder(ctx)
