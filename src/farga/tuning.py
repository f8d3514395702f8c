"""``farga tune <component>``: hyperparameter search with Optuna; the winner is reproduced by the
pipeline, not by the tuner.

The space is the component's ``tune`` section in params.yaml. Trials train on the pipeline's own
prepared data and are judged on its validation split, never on the test split the registry gate
uses. The study lives in ``FARGA_TUNE_STORAGE`` (an SQLite file by default): workers started on
several machines with one PostgreSQL URL share it, Optuna handing each its own trials. After each
epoch a trial reports its validation top-1 and the median pruner may stop it. Every trial is an
MLflow run nested under its worker's run. At the end, ``--then run`` (or ``queue``) hands the best
trial's values to ``dvc exp run -S ...``: the pipeline trains, evaluates and gates that model like
any other, with the values recorded in its params.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from farga import components, tracking
from farga.errors import FargaError
from farga.params import Dimension, P, Tune, validated

if TYPE_CHECKING:
    import optuna

Then = Literal["none", "queue", "run"]


def with_values(config: P, values: dict[str, Any]) -> P:
    """The component's params with each dotted key of ``values`` set, checked by the same model (a value
    it refuses, or a key it does not have, stops here)."""
    section = config.model_dump(by_alias=True)
    for dotted, value in values.items():
        *parents, leaf = dotted.split(".")
        node = section
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise FargaError(f"tune.space key {dotted!r} is not in the {part!r} block of the params")
            node = node[part]
        if leaf not in node:
            raise FargaError(f"tune.space key {dotted!r} names no parameter of the section")
        node[leaf] = value
    return validated(type(config), section, "the trial's params")


def suggest(trial: optuna.Trial, name: str, dim: Dimension) -> Any:
    if dim.choices is not None:
        return trial.suggest_categorical(name, dim.choices)
    low, high = float(dim.low or 0), float(dim.high or 0)  # both set: the params model checked it
    if dim.integer:
        return trial.suggest_int(name, int(low), int(high), log=dim.log)
    return trial.suggest_float(name, low, high, log=dim.log)


def dvc_sets(ctx: components.Ctx, values: dict[str, Any]) -> list[str]:
    """``-S`` arguments for the values, each written where it takes effect: under the active profile
    when that profile overrides the key, else in the section itself."""
    profile = ctx.config.profile
    override = ctx.config.profiles.get(profile, {}) if profile != "full" else {}
    out = []
    for dotted, value in values.items():
        node: Any = override
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        where = f"profiles.{profile}.{dotted}" if node is not None else dotted
        out.append(f"{ctx.component}.{where}={value}")
    return out


@dataclass(frozen=True)
class Outcome:
    """What a worker leaves: the study's state when it stopped, and what DVC was asked to do."""

    study: str
    storage: str
    trials: dict[str, int]
    best_value: float | None
    best_values: dict[str, Any]
    dvc_command: list[str]
    dvc_ran: Then
    trial_rows: list[components.Facts]  # each trial: number, state, validation top-1, seconds, values

    def facts(self) -> components.Facts:
        return {
            "study": self.study,
            "storage": self.storage.split("@")[-1],  # never a password
            "trials": dict(self.trials),
            "best_validation_top1": self.best_value,
            "best_values": dict(self.best_values),
            "dvc": " ".join(self.dvc_command),
            "then": self.dvc_ran,
        }


def objective(ctx: components.Ctx, tune: Tune, worker_run: str) -> Callable[[optuna.Trial], float]:
    component = components.get(ctx.component)
    if not isinstance(component, components.Tunes):
        raise components.lacking(ctx.component, "tuning (farga tune)")

    def run_trial(trial: optuna.Trial) -> float:
        import mlflow
        import optuna

        values = {name: suggest(trial, name, dim) for name, dim in tune.space.items()}
        config = with_values(ctx.config, values)
        tags = {"optuna.study": trial.study.study_name, "optuna.trial": str(trial.number), "stage": "tune"}
        mlflow.start_run(run_name=f"trial-{trial.number}", nested=True, parent_run_id=worker_run, tags=tags)
        status = "FAILED"
        try:
            mlflow.log_params(values)

            def report(epoch: int, score: float) -> None:
                mlflow.log_metric("val_top1", score, step=epoch)
                trial.report(score, epoch)
                if trial.should_prune():
                    mlflow.set_tag("optuna.state", "PRUNED")
                    raise optuna.TrialPruned(f"below the median after epoch {epoch}")

            best = component.trial(replace(ctx, config=config), report)
            mlflow.log_metric("best_val_top1", best)
            mlflow.set_tag("optuna.state", "COMPLETE")
            status = "FINISHED"
        except optuna.TrialPruned:
            status = "KILLED"  # stopped on purpose: MLflow has no "pruned", and the run did not fail
            raise
        finally:
            mlflow.end_run(status)  # the trial's run only: the worker's stays open
        return best

    return run_trial


def current_values(ctx: components.Ctx, space: dict[str, Dimension]) -> dict[str, Any]:
    """The section's own values of the searched keys: the baseline every trial is compared with."""
    out = {}
    for dotted in space:
        node: Any = ctx.config
        for part in dotted.split("."):
            node = getattr(node, part)
        out[dotted] = node
    return out


def open_study(name: str, storage: str, pruner: optuna.pruners.BasePruner) -> optuna.Study:
    """Create or join the study. Workers started together on a new database race to create Optuna's
    tables and one of them loses (a duplicate type or table): it tries again and finds them made."""
    import optuna
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    for attempt in range(5):
        try:
            # no fixed sampler seed: two workers with one seed would propose the same first trials
            return optuna.create_study(
                study_name=name, storage=storage, direction="maximize", pruner=pruner, load_if_exists=True
            )
        except (IntegrityError, OperationalError, ProgrammingError):
            if attempt == 4:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def tune(ctx: components.Ctx, study_name: str | None = None, then: Then = "none", baseline: bool = False) -> Outcome:
    import mlflow
    import optuna
    from optuna.study import MaxTrialsCallback

    config = ctx.config.tune
    if config is None:
        raise FargaError(f"params.yaml has no {ctx.component}.tune section: nothing to search")
    if not (ctx.paths.prepared).exists():
        raise FargaError(f"no prepared data in {ctx.paths.prepared}: run `dvc repro {ctx.component}-validate` first")
    name = study_name or f"{ctx.component}-{ctx.config.profile}"
    storage = ctx.settings.resolved_tune_storage()
    pruner = (
        # steps are epochs, counted from 1: the earliest prune is at step == n_warmup_steps
        optuna.pruners.MedianPruner(n_startup_trials=config.startup_trials, n_warmup_steps=config.warmup_epochs + 1)
        if config.pruner == "median"
        else optuna.pruners.NopPruner()
    )
    study = open_study(name, storage, pruner)
    if baseline and not study.get_trials(deepcopy=False):
        study.enqueue_trial(current_values(ctx, config.space))  # trial 0: params.yaml as it is
    tracking.configure(ctx.settings, ctx.component)
    worker = f"tune-{name}-{socket.gethostname()}-{os.getpid()}"
    with mlflow.start_run(run_name=worker, tags={"optuna.study": name, "stage": "tune"}) as run:
        mlflow.log_params({f"space.{k}": v.model_dump_json(exclude_none=True) for k, v in config.space.items()})
        # every worker stops once the study holds `trials` trials, running ones counted (no overshoot);
        # one that joins a full study runs none
        if len(study.get_trials(deepcopy=False)) < config.trials:
            with contextlib.redirect_stdout(sys.stderr):  # the trials' progress; stdout is the outcome, for scripts
                study.optimize(
                    objective(ctx, config, run.info.run_id), callbacks=[MaxTrialsCallback(config.trials, states=None)]
                )
    trials = study.get_trials(deepcopy=False)
    states = {state.name: sum(t.state == state for t in trials) for state in optuna.trial.TrialState}
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = study.best_trial if complete else None
    rows: list[components.Facts] = [
        {
            "number": t.number,
            "state": t.state.name,
            "validation_top1": None if t.value is None else round(float(t.value), 4),
            "seconds": round((t.datetime_complete - t.datetime_start).total_seconds())
            if t.datetime_complete and t.datetime_start
            else None,
            "values": dict(t.params),
        }
        for t in sorted(trials, key=lambda t: t.number)
    ]
    best_values = dict(best.params) if best else {}
    sets = (a for s in dvc_sets(ctx, best_values) for a in ("-S", s))
    command = ["dvc", "exp", "run", "-n", f"tune-{name}", *sets, f"{ctx.component}-register"]  # its stages only
    if then != "none" and best is not None:
        run_dvc(ctx, command if then == "run" else [*command[:3], "--queue", *command[3:]])
    return Outcome(
        study=name,
        storage=storage,
        trials={k: v for k, v in states.items() if v},
        best_value=None if best is None else float(best.value),  # type: ignore[arg-type]
        best_values=best_values,
        dvc_command=command,
        dvc_ran=then if best is not None else "none",
        trial_rows=rows,
    )


def report(outcome: Outcome, ctx: components.Ctx, command: str, wall_s: float) -> components.Facts:
    """What ``farga tune --out`` writes (reports/scale/tune-*.json): the study as this worker left it,
    with the machine, the command, the profile and the search that made it, so the file is rerun,
    never assembled by hand."""
    from farga.cpu import describe

    first = outcome.trial_rows[0] if outcome.trial_rows else None
    search = ctx.config.tune
    return {
        "command": command,
        "profile": ctx.config.profile,
        "tune": search.model_dump(mode="json", exclude_none=True) if search is not None else None,
        "machine": describe().summary(),
        "wall_minutes": round(wall_s / 60, 1),
        "baseline_validation_top1": first["validation_top1"] if first and first["number"] == 0 else None,
        "result": outcome.facts(),
        "trials": list(outcome.trial_rows),
    }


def run_dvc(ctx: components.Ctx, command: list[str]) -> None:
    dvc = shutil.which("dvc", path=f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}")
    if dvc is None:
        raise FargaError("dvc is not on PATH (install the pipeline extras)")
    # the pipeline's progress goes to stderr: stdout carries only the result
    done = subprocess.run([dvc, *command[1:]], cwd=ctx.settings.root, stdout=sys.stderr, check=False)
    if done.returncode != 0:
        raise FargaError(f"{' '.join(command)} exited {done.returncode}")
