"""What the metrics follow: the containers supervised now, each with the endpoint facts the supervisor lacks.

The supervisor knows containers by ContainerKey (endpoint, generation, hostname) but not variants or modes;
the layer that adds units (the composition root's fleet) lists them as Members, in the order they were added,
and the sampler reads that list on every sample, so containers added or forgotten at run time follow.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.config import ContainerSpec, Deployment
from runtime.supervisor.keys import ContainerKey


@dataclass(frozen=True)
class Member:
    key: ContainerKey
    spec: ContainerSpec
    variant: str  # the endpoint's production variant: a label of every series
    mode: str  # Direct | Serial: EMF reports model and overhead latency per container only for Direct


def deployment_members(d: Deployment, generation: int = 1) -> tuple[Member, ...]:
    """The deployment file's endpoint as members (the keys runtime.supervisor.units.deployment_units gives)."""
    return tuple(
        Member(ContainerKey(d.endpoint_name, generation, c.hostname), c, d.variant_name, d.mode) for c in d.containers
    )
