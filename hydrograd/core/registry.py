"""Registry of the snow, hydrological and routing modules, chosen by name.

A structure is one module of each kind (smash names it ``"snow-hydrological-routing"``, e.g.
``"zero-gr4-lr"``). Each module declares the parameters and states it owns, in smash's order;
the structure's parameters are the snow ones, then the hydrological ones, then the routing ones.
Adding a module means writing its step function and adding one row below. A hybrid module is
its conceptual base module plus a flux-correction network: same parameters, states, fluxes and
step function, which the time loop calls with the network as ``flux_correction``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from hydrograd.core import routing
from hydrograd.core.structures import gr, gr_ode, snow, vic
from hydrograd.core.structures._common import gradient_guard


@dataclass(frozen=True)
class Module:
    """One operator family: its name, owned parameters and states, and its step function.

    Steps by kind: a snow step is ``(params, states, snow, temp) -> (new_states, fluxes)`` with
    the melt under ``"mlt"`` (``None`` for no snow module); a hydrological step is
    ``(params, states, HydroInputs, flux_correction) -> (new_states, fluxes)`` with the runoff
    under ``"qt"``; a routing step is described in ``hydrograd.core.routing``.
    ``base`` names the conceptual module a hybrid module corrects (``None`` otherwise), and
    ``network_io`` gives the sizes ``(n_in, n_out)`` of its correction network's input and output
    layers (smash's ``HYDROLOGICAL_MODULE_INOUT_NEURONS``); the hidden layers come from the setup.
    """

    name: str
    parameters: tuple[str, ...]
    states: tuple[str, ...]
    step: Callable | None
    fluxes: tuple[str, ...] = ()
    memory: Callable | None = field(default=None, compare=False)
    base: str | None = None
    network_io: tuple[int, int] | None = None

    @property
    def is_hybrid(self) -> bool:
        """Whether the module takes a flux-correction network."""
        return self.network_io is not None


def _guarded(step: Callable) -> Callable:
    """``step`` whose parameters and states pass through ``gradient_guard``: the same values, and
    a reverse pass that cannot send an infinite or NaN gradient back to the previous step (nor, for
    a snow step, back from the hydrological step through the melt)."""

    @functools.wraps(step)
    def guarded_step(params, states, *inputs, **options):
        params, states = gradient_guard((params, states))
        return step(params, states, *inputs, **options)

    return guarded_step


SNOW_MODULES: dict[str, Module] = {
    "zero": Module("zero", (), (), None),
    "ssn": Module("ssn", ("kmlt",), ("hs",), _guarded(snow.ssn_step), ("mlt",)),
}

_GR4_FLUXES = ("pn", "en", "pr", "perc", "ps", "es", "lexc", "prr", "prd", "qr", "qd", "qt")
_GR6_FLUXES = ("pn", "en", "pr", "perc", "ps", "es", "lexc", "prr", "prd", "pre", "qr", "qd", "qe", "qt")
_GRC_FLUXES = ("pn", "en", "pr", "perc", "ps", "es", "lexc", "prr", "prd", "prl", "qr", "qd", "ql", "qt")
_GR_STATES = ("hi", "hp", "ht")

_CONCEPTUAL = (
    Module("gr4", ("ci", "cp", "ct", "kexc"), _GR_STATES, gr.gr4_step, _GR4_FLUXES),
    Module("gr4_ri", ("ci", "cp", "ct", "alpha1", "alpha2", "kexc"), _GR_STATES, gr.gr4_ri_step, _GR4_FLUXES),
    Module("gr4_ode", ("ci", "cp", "ct", "kexc"), _GR_STATES, gr_ode.gr4_ode_step, ("pn", "en", "lexc", "qt")),
    Module("gr5", ("ci", "cp", "ct", "kexc", "aexc"), _GR_STATES, gr.gr5_step, _GR4_FLUXES),
    Module("gr5_ri", ("ci", "cp", "ct", "alpha1", "alpha2", "kexc", "aexc"), _GR_STATES, gr.gr5_ri_step, _GR4_FLUXES),
    Module("gr6", ("ci", "cp", "ct", "be", "kexc", "aexc"), (*_GR_STATES, "he"), gr.gr6_step, _GR6_FLUXES),
    Module("grc", ("ci", "cp", "ct", "cl", "kexc"), (*_GR_STATES, "hl"), gr.grc_step, _GRC_FLUXES),
    Module(
        "grd", ("cp", "ct"), ("hp", "ht"), gr.grd_step, ("ei", "pn", "en", "pr", "perc", "ps", "es", "prr", "qr", "qt")
    ),
    Module(
        "loieau",
        ("ca", "cc", "kb"),
        ("ha", "hc"),
        gr.loieau_step,
        ("ei", "pn", "en", "pr", "perc", "ps", "es", "prr", "prd", "qr", "qd", "qt"),
    ),
    Module(
        "vic3l",
        ("b", "cusl", "cmsl", "cbsl", "ks", "pbc", "ds", "dsm", "ws"),
        ("hcl", "husl", "hmsl", "hbsl"),
        vic.vic3l_step,
        ("pn", "en", "qr", "qb", "qt"),
    ),
)

# Hybrid name -> (base module, network input size, network output size).
_HYBRIDS = {
    "gr4_mlp": ("gr4", 4, 4),
    "gr4_ri_mlp_exc": ("gr4_ri", 4, 1),
    "gr4_ode_mlp": ("gr4_ode", 4, 4),
    "gr4_ude": ("gr4_ode", 4, 4),  # smash 1.3.0's name for gr4_ode_mlp
    "gr5_mlp": ("gr5", 4, 4),
    "gr5_ri_mlp_exc": ("gr5_ri", 4, 1),
    "gr6_mlp": ("gr6", 5, 5),
    "grc_mlp": ("grc", 5, 5),
    "grd_mlp": ("grd", 4, 2),
    "loieau_mlp": ("loieau", 4, 3),
}


def _with_hybrids(conceptual: tuple[Module, ...], hybrids: dict[str, tuple[str, int, int]]) -> dict[str, Module]:
    """Each conceptual module followed by its hybrids (smash's order), a hybrid being its base module
    under another name, with the sizes of its network. Every step is guarded (see ``_guarded``)."""
    modules = {}
    for module in conceptual:
        module = replace(module, step=_guarded(module.step))
        modules[module.name] = module
        for name, (base, n_in, n_out) in hybrids.items():
            if base == module.name:
                modules[name] = replace(module, name=name, base=base, network_io=(n_in, n_out))
    return modules


HYDROLOGICAL_MODULES: dict[str, Module] = _with_hybrids(_CONCEPTUAL, _HYBRIDS)

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
