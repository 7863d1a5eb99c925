"""Chain hydrograd with another differentiable model through ``backward_run``.

A downstream model (here a JAX reservoir fed by the discharge at Cance's outlet, with a loss on its
storage) needs the derivative of its loss with respect to hydrograd's parameters. By the chain rule,
``dL/dx = sum over cells and steps of dL/dq * dq/dx``: the downstream model gives ``dL/dq`` (its own
gradient), ``backward_run(model, "q", cotangent=dL/dq)`` contracts it with hydrograd's ``dq/dx``
without ever forming the Jacobian. The script checks the chained gradient against finite
differences of the chained loss and prints both.

    python examples/backward_chaining.py [--step H]

Needs smash's Cance dataset (``HYDROGRAD_DATA`` or an installed hydro-smash).
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import hydrograd as smash

PERIOD = {"start_time": "2014-10-09 00:00", "end_time": "2014-10-12 00:00"}
QUIET = {"verbose": False}
KEEP = {"control_tfm": "keep"}  # the control vector is the parameters themselves


def reservoir_loss(inflow: jnp.ndarray, dt: float) -> jnp.ndarray:
    """The downstream model: a linear reservoir (release 5 % of its storage per step) filled by
    ``inflow`` (m3/s, one value per step); loss: mean squared storage (hm3)."""

    def step(storage, q_in):
        storage = 0.95 * storage + q_in * dt / 1e6
        return storage, storage

    _, storage = jax.lax.scan(step, jnp.zeros(()), inflow)
    return jnp.mean(storage**2)


def active_cell_discharge(model: smash.Model) -> np.ndarray:
    """Every active cell's discharge ``(nac, ntime_step)`` in smash's column-major cell order."""
    _, ret = smash.forward_run(model, common_options=QUIET, return_options={"q_domain": True})
    active = model.mesh.active_cell.T == 1
    return np.asarray(ret.q_domain).transpose(1, 0, 2)[active]


def outlet_index(model: smash.Model) -> int:
    """Row of the first gauge's cell in :func:`active_cell_discharge`."""
    order = np.zeros(model.mesh.active_cell.shape, dtype=int)
    active = model.mesh.active_cell.T == 1
    order.T[active] = np.arange(active.sum())
    row, col = model.mesh.gauge_pos[0]
    return int(order[row, col])


def chained_loss(model: smash.Model) -> float:
    q = active_cell_discharge(model)
    return float(reservoir_loss(jnp.asarray(q[outlet_index(model)], jnp.float64), model.setup.dt))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=float, default=1.0, help="finite-difference step on cp (mm)")
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)

    setup, mesh = smash.factory.load_dataset("Cance")
    model = smash.Model({**setup, **PERIOD}, mesh)

    # 1. the downstream model's gradient with respect to the discharge it receives
    q = active_cell_discharge(model)
    outlet = outlet_index(model)
    dloss_dinflow = jax.grad(reservoir_loss)(jnp.asarray(q[outlet], jnp.float64), model.setup.dt)
    cotangent = np.zeros_like(q)
    cotangent[outlet] = np.asarray(dloss_dinflow)

    # 2. hydrograd contracts it with dq/dx: dL/dx for the uniform parameters cp, ct, kexc, llr
    _, ret = smash.backward_run(
        model,
        "q",
        cotangent,
        optimizer="lbfgsb",
        optimize_options=KEEP,
        common_options=QUIET,
        return_options={"grad": True},
    )
    names = smash.default_optimize_options(model, optimizer="lbfgsb")["parameters"]
    chained = dict(zip(names, ret.grad.tolist(), strict=True))

    # 3. check dL/dcp against central differences of the chained loss
    cp = float(model.get_rr_parameters("cp")[0, 0])
    losses = []
    for sign in (1, -1):
        moved = model.copy()
        moved.set_rr_parameters("cp", cp + sign * args.step)
        losses.append(chained_loss(moved))
    finite = (losses[0] - losses[1]) / (2 * args.step)

    print(f"loss: {chained_loss(model):.6g}")
    for name, value in chained.items():
        print(f"dL/d{name} (backward_run): {value:.6g}")
    print(f"dL/dcp (finite differences, step {args.step:g} mm): {finite:.6g}")
    print(f"relative difference: {abs(chained['cp'] - finite) / abs(finite):.2e}")


if __name__ == "__main__":
    main()
