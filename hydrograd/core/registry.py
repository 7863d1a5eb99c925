"""Registry of the snow, hydrological and routing modules, chosen by name.

A structure is one module of each kind (smash names it ``"snow-hydrological-routing"``, e.g.
``"zero-gr4-lr"``). Each module declares the parameters and states it owns, in smash's order;
the structure's parameters are the snow ones, then the hydrological ones, then the routing ones.
Adding a module means writing its step function and adding one row below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hydrograd.core import routing
from hydrograd.core.structures import gr


@dataclass(frozen=True)
class Module:
    """One operator family: its name, owned parameters and states, and its step function."""

    name: str
    parameters: tuple[str, ...]
    states: tuple[str, ...]
    step: Callable | None
    fluxes: tuple[str, ...] = ()
    memory: Callable | None = field(default=None, compare=False)


SNOW_MODULES: dict[str, Module] = {
    "zero": Module("zero", (), (), None),
}

_GR4_FLUXES = ("pn", "en", "pr", "perc", "ps", "es", "lexc", "prr", "prd", "qr", "qd", "qt")

HYDROLOGICAL_MODULES: dict[str, Module] = {
    "gr4": Module("gr4", ("ci", "cp", "ct", "kexc"), ("hi", "hp", "ht"), gr.gr4_step, _GR4_FLUXES),
}

ROUTING_MODULES: dict[str, Module] = {
    "zero": Module("zero", (), (), routing.route_zero),
    "lag0": Module("lag0", (), (), routing.route_lag0, ("qup",)),
    "lr": Module("lr", ("llr",), ("hlr",), routing.route_lr, ("qup",)),
    "kw": Module("kw", ("akw", "bkw"), (), routing.route_kw, ("qim1j",), memory=routing.kw_memory),
}


@dataclass(frozen=True)
class Structure:
    """A snow + hydrological + routing chain."""

    snow: Module
    hydrological: Module
    routing: Module

    @property
    def name(self) -> str:
        return f"{self.snow.name}-{self.hydrological.name}-{self.routing.name}"

    @property
    def parameters(self) -> tuple[str, ...]:
        return self.snow.parameters + self.hydrological.parameters + self.routing.parameters

    @property
    def states(self) -> tuple[str, ...]:
        return self.snow.states + self.hydrological.states + self.routing.states

    @property
    def fluxes(self) -> tuple[str, ...]:
        return self.snow.fluxes + self.hydrological.fluxes + self.routing.fluxes


def get_structure(snow_module: str, hydrological_module: str, routing_module: str) -> Structure:
    """Look up the three modules by name (names are assumed validated by the caller)."""
    return Structure(
        SNOW_MODULES[snow_module],
        HYDROLOGICAL_MODULES[hydrological_module],
        ROUTING_MODULES[routing_module],
    )
