"""Many catchments' models run and calibrated together: :class:`ModelBatch`.

A batch holds the user's own ``Model`` objects (one per catchment, each its own mesh, forcing,
observations and parameters) and runs their forward runs, or their independent calibrations, as
few compiled programs: the catchments are padded to one shape and stacked along a batch axis
(``hydrograd.simulation.batch``), which is split over the available devices (several CPU devices,
GPUs). Each model ends exactly as its own ``forward_run`` / ``optimize`` would leave it, within
float rounding, and gets the same return value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from hydrograd._progress import IterationProgress, progress_bar
from hydrograd.calibration.batch import calibrate_batch
from hydrograd.calibration.regional import train_regional
from hydrograd.config.calibration import check_calibration
from hydrograd.config.run_options import common_options as check_common_options
from hydrograd.model import Model
from hydrograd.nn import Net
from hydrograd.simulation.batch import forward_batch
from hydrograd.simulation.inputs import require_active_cells
from hydrograd.simulation.outputs import ForwardRun, Optimize


class ModelBatch:
    """Models of many catchments, run and calibrated together.

    ``models``: a list of ``Model`` or a mapping name -> ``Model`` (names label progress and
    errors; by default ``"0"``, ``"1"``, ...). The models must share their structure, time step and
    period; they are not copied: the batch's methods write into them, as each model's own method
    would. ``batch_size``: catchments per compiled program (fewer for memory, more for speed);
    ``n_devices``: devices each program is split over (all local devices of JAX's default
    backend by default; force several CPU devices with
    ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` before importing hydrograd).
    """

    def __init__(
        self,
        models: Sequence[Model] | Mapping[str, Model],
        *,
        batch_size: int = 256,
        n_devices: int | None = None,
    ):
        if isinstance(models, Mapping):
            names, models = [str(k) for k in models], list(models.values())
        else:
            models = list(models)
            names = [str(k) for k in range(len(models))]
        for name, model in zip(names, models, strict=True):
            if not isinstance(model, Model):
                raise TypeError(f"ModelBatch holds Model objects; {name!r} is a {type(model).__name__}")
        if not models:
            raise ValueError("ModelBatch needs at least one model")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if n_devices is not None and (isinstance(n_devices, bool) or not isinstance(n_devices, int) or n_devices < 1):
            raise ValueError(f"n_devices must be a positive int or None, got {n_devices!r}")
        self.models: list[Model] = models
        self.names: list[str] = names
        self.batch_size = batch_size
        self.n_devices = n_devices

    def __len__(self) -> int:
        return len(self.models)

    def __iter__(self) -> Iterator[Model]:
        return iter(self.models)

    def __getitem__(self, key: int | str) -> Model:
        if isinstance(key, str):
            if key not in self.names:
                raise KeyError(f"no catchment {key!r} in the batch; its names: {self.names[:10]}...")
            return self.models[self.names.index(key)]
        return self.models[key]

    def __repr__(self) -> str:
        return f"ModelBatch({len(self)} catchments, batch_size={self.batch_size})"

    def forward_run(
        self,
        cost_options: dict[str, Any] | None = None,
        common_options: dict[str, Any] | None = None,
        return_options: dict[str, Any] | None = None,
    ) -> list[ForwardRun | None]:
        """Every model's ``forward_run`` with these options, in batches; each model's return value,
        in order."""
        requests = [m._forward_request(cost_options, common_options, return_options) for m in self.models]
        common = requests[0].common
        if common.verbose:
            print(f"</> Forward Run ({len(self)} catchments)")
        inputs = [m.core_inputs() for m in self.models]
        with progress_bar(len(self), "</> Forward Run (catchments)", common.verbose, unit="catchment") as bar:
            outputs = forward_batch(inputs, requests[0].returns.record, self.batch_size, self.n_devices, bar.update)
        return [m._forward_result(out, r) for m, out, r in zip(self.models, outputs, requests, strict=True)]

    def optimize(
        self,
        mapping: str = "uniform",
        optimizer: str | None = None,
        optimize_options: dict[str, Any] | None = None,
        cost_options: dict[str, Any] | None = None,
        common_options: dict[str, Any] | None = None,
        return_options: dict[str, Any] | None = None,
    ) -> list[Optimize | Exception | None]:
        """Calibrate every model independently, as its own ``optimize`` with these options would,
        in batches (``hydrograd.calibration.batch``: uniform or distributed mapping, conceptual
        structures, every optimizer). Each model is written once its batch has finished; a model
        whose search failed is left as it was and its entry of the returned list is the error.
        ``common_options["verbose"]`` shows a bar of finished catchments instead of smash's lines."""
        common = check_common_options(common_options)
        quiet = {**(common_options or {}), "verbose": False}
        facts, requests, data = [], [], []
        for model in self.models:
            require_active_cells(model.layout)
            model_facts = model.facts(values=True)
            facts.append(model_facts)
            requests.append(
                check_calibration(
                    model_facts, mapping, optimizer, optimize_options, cost_options, quiet, return_options
                )
            )
            data.append(model.calibration_data())
        results = calibrate_batch(data, requests, self.names, self.batch_size, self.n_devices, common.verbose)
        out: list[Optimize | Exception | None] = []
        for model, result, request, model_facts in zip(self.models, results, requests, facts, strict=True):
            if isinstance(result, BaseException):
                out.append(result)
                continue
            ret = model._write_calibration(result, request, model_facts)
            out.append(Optimize(**ret) if ret else None)
        return out

    def regionalize(
        self,
        validation: Sequence[str] = (),
        optimizer: str | None = None,
        optimize_options: dict[str, Any] | None = None,
        cost_options: dict[str, Any] | None = None,
        common_options: dict[str, Any] | None = None,
    ) -> Regionalization:
        """Train one descriptors-to-parameters network across the batch (``mapping="ann"``'s options:
        ``net``, a multilayer perceptron, smash's default one by default; ``parameters``, ``bounds``,
        ``learning_rate``, ``termination_crit``, ``random_state``), leaving out the catchments named
        in ``validation``; write every model's parameters from the trained network (held-out ones
        included: their regionalized, ungauged-style values) and run every model forward.

        The descriptors are normalized with statistics over all the batch's active cells, so that
        the network reads one scale everywhere. Returns the network and each catchment's NSE at
        its first cost gauge, training and validation catchments apart."""
        common = check_common_options(common_options)
        unknown = sorted(set(validation) - set(self.names))
        if unknown:
            raise KeyError(f"validation names catchments not in the batch: {unknown}")
        statistics = regional_statistics(self.models)
        facts, requests, data = [], [], []
        quiet = {**(common_options or {}), "verbose": False}
        for model in self.models:
            require_active_cells(model.layout)
            model_facts = model.facts(values=True)
            facts.append(model_facts)
            requests.append(check_calibration(model_facts, "ann", optimizer, optimize_options, cost_options, quiet))
            data.append(model.calibration_data(statistics))
        train = [k for k, name in enumerate(self.names) if name not in set(validation)]
        report = IterationProgress(common.verbose, requests[0].options.termination_crit["maxiter"], "</> Regionalize")
        report.report(f"</> Regionalize ({len(train)} training, {len(validation)} validation catchments)")
        try:
            result = train_regional(data, requests, train, report.report, self.n_devices)
        finally:
            report.close()
        for model, values, model_facts in zip(self.models, result.values, facts, strict=True):
            model._write_found(model_facts, {}, values, {}, {})
        self.forward_run(common_options={"verbose": False})
        roles = ["validation" if name in set(validation) else "training" for name in self.names]
        nse = pd.DataFrame({"catchment": self.names, "role": roles, "nse": result.nse.astype(np.float64)})
        return Regionalization(result.net, nse, result.optimizer.iter_cost)


class Regionalization(NamedTuple):
    """A joint regionalization's outcome: the trained ``net``, a table of each catchment's ``nse``
    (columns ``catchment``, ``role``: ``training`` or ``validation``, ``nse``) and the training
    cost at each iteration ``iter_cost``."""

    net: Net
    nse: pd.DataFrame
    iter_cost: list[float]


def regional_statistics(models: Sequence[Model]) -> dict[str, np.ndarray]:
    """Minimum, maximum, mean and standard deviation of each descriptor over every active cell of
    ``models`` (``(nd,)`` each), for one normalization across them."""
    cells = np.concatenate([m.layout.to_active(np.asarray(m.physio_data.descriptor)) for m in models])
    return {
        "l_descriptor": np.min(cells, axis=0),
        "u_descriptor": np.max(cells, axis=0),
        "mean_descriptor": np.mean(cells, axis=0),
        "std_descriptor": np.std(cells, axis=0),
    }
