"""The Dask engine of `vsv train` (``engine: dask`` in training/config.yaml): the training set built and
the booster fitted beyond one process, on a ``distributed.LocalCluster`` or on a cluster's scheduler.

One implementation of every feature: each partition is :func:`features.build_training_set` (the pandas
path's own function) on a chunk of as-of weeks, given only the raw-table rows those weeks read. The
training fold stays a Dask DataFrame (persisted on the workers) and is fitted with
``lightgbm.DaskLGBMClassifier`` with the parameters :func:`models.risk_model.make_pipeline` would use; the
booster comes back with ``.to_local()`` into the same pipeline, so the artefact is the same
:class:`models.risk_model.RiskModel` and serving, replay and monitoring do not change.

What stays in pandas, on the driver: the calibration and test folds (one school year each), and with them
calibration, bands, evaluation, the reference sample and the model card (the pandas path's code, not a
second implementation); the logistic baseline, on a sample of at most ``dask_logistic_rows`` training rows.

Dask is imported here only, inside functions: the pandas path does not need it installed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pandas as pd
from sklearn.pipeline import Pipeline

from data.calendar import WEEKS_PER_YEAR
from data.questionnaire import Questionnaire
from data.tables import RawTables
from features import LOOKBACK_WEEKS, build_training_set
from models.risk_model import make_pipeline
from training.config import TrainingConfig
from training.fit import (
    LABEL,
    BoosterFitter,
    Prepared,
    TrainingDataError,
    check_fold,
    check_fold_counts,
    temporal_folds,
)

if TYPE_CHECKING:
    from dask.dataframe import DataFrame as DaskFrame
    from distributed import Client


@contextmanager
def dask_client(config: TrainingConfig) -> Iterator[Client]:
    """A client of the scheduler at ``config.dask_scheduler``, or of a LocalCluster on 127.0.0.1 (no
    dashboard) that is closed on leaving. Strings stay as the feature code makes them (Dask would
    otherwise turn object columns into pyarrow strings, and the folds would differ from the pandas
    path's in dtype)."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"dataframe.convert-string": False}):
        if config.dask_scheduler:
            with Client(config.dask_scheduler) as client:
                yield client
            return
        in_process = config.dask_workers == 1
        with (
            LocalCluster(
                n_workers=config.dask_workers,
                threads_per_worker=config.dask_threads_per_worker,
                # One worker: threads in this process, so the raw tables are not copied to a worker; TCP on
                # loopback either way (LightGBM's own network between workers needs host addresses).
                processes=not in_process,
                protocol="tcp",
                # A worker's memory limit is measured on its process. In this process that is the driver's
                # own memory (the raw tables, the folds, whatever ran before): past 80% of the limit the
                # worker pauses and the training waits for ever (CI hung so after its process had grown to
                # 1.8 GB against 1.5 GiB). So the limit binds separate worker processes only.
                memory_limit=0 if in_process else config.dask_memory_limit,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client


def week_chunks(weeks: Sequence[int], per_partition: int) -> list[tuple[int, ...]]:
    """``weeks`` (sorted) in consecutive chunks of at most ``per_partition``: one partition each."""
    ordered = sorted(weeks)
    return [tuple(ordered[i : i + per_partition]) for i in range(0, len(ordered), per_partition)]


def tables_for_weeks(tables: RawTables, weeks: Sequence[int]) -> RawTables:
    """The raw rows a snapshot and labels of ``weeks`` read: the weekly tables from
    :data:`features.LOOKBACK_WEEKS` before the first week to the last, the other tables whole."""
    low, high = min(weeks) - LOOKBACK_WEEKS, max(weeks)

    def window(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[(frame["week"] > low) & (frame["week"] <= high)]

    return RawTables(
        students=tables.students,
        questionnaire_answers=window(tables.questionnaire_answers),
        attendance_weeks=window(tables.attendance_weeks),
        progress_results=tables.progress_results,
        outcomes=tables.outcomes,
        assessment_results=tables.assessment_results,
        school_signals=tables.school_signals,
    )


def partition_rows(
    tables: RawTables,
    weeks: tuple[int, ...],
    horizon: int,
    questionnaire: Questionnaire | None,
    max_week: int,
) -> pd.DataFrame:
    """One partition: the pandas training set of ``weeks`` (with ``week_in_year``, as
    :func:`training.pipeline.prepare` adds it)."""
    rows = build_training_set(
        tables_for_weeks(tables, weeks), weeks, horizon, questionnaire, max_week=max_week
    )
    rows["week_in_year"] = rows["as_of"] % WEEKS_PER_YEAR + 1
    return rows


def dask_training_set(
    client: Client,
    tables: Any,
    weeks: Sequence[int],
    config: TrainingConfig,
    questionnaire: Questionnaire | None,
    max_week: int,
) -> DaskFrame:
    """The training set of ``weeks`` as a Dask DataFrame, one partition per chunk of
    ``config.dask_weeks_per_partition`` as-of weeks. ``tables`` is a :class:`RawTables` or a future of one
    (scattered to the workers once)."""
    import dask
    import dask.dataframe as dd

    build = dask.delayed(partition_rows, pure=True)
    parts = [
        build(tables, chunk, config.horizon, questionnaire, max_week)
        for chunk in week_chunks(weeks, config.dask_weeks_per_partition)
    ]
    return dd.from_delayed(parts, verify_meta=False)


def dask_booster_fitter(client: Client, train: DaskFrame, network_timeout_minutes: int = 5) -> BoosterFitter:
    """Fit :func:`models.risk_model.make_pipeline`'s family on the Dask training fold with
    ``lightgbm.DaskLGBMClassifier``; the pipeline returned holds the local booster (``.to_local()``).
    ``network_timeout_minutes`` is LightGBM's ``time_out`` for its workers' sockets: a worker that cannot
    reach the others fails the fit after that long instead of after LightGBM's default two hours."""
    from lightgbm import DaskLGBMClassifier

    def fit(features: Sequence[str], params: Mapping[str, Any], seed: int) -> Pipeline:
        pipeline = make_pipeline(features, params, seed)
        local_params = pipeline.named_steps["lgbm"].get_params()
        estimator = DaskLGBMClassifier(client=client, time_out=network_timeout_minutes, **local_params)
        columns = list(features)
        estimator.fit(train[columns].astype("float64"), train[LABEL])
        pipeline.named_steps["select"].fit(None)
        pipeline.steps[-1] = ("lgbm", estimator.to_local())
        return pipeline

    return fit


def collect(client: Client, frame: DaskFrame) -> pd.DataFrame:
    """A Dask DataFrame in driver memory, with a fresh index."""
    out: pd.DataFrame = client.compute(frame).result()
    return out.reset_index(drop=True)


def prepare_dask(
    client: Client,
    tables: RawTables,
    config: TrainingConfig,
    questionnaire: Questionnaire | None = None,
) -> Prepared:
    """:func:`training.pipeline.prepare` on Dask: the same folds and checks; the training fold persisted on
    the workers (fitted through ``Prepared.fitter``), the other folds collected to pandas, and
    ``Prepared.train`` a sample of at most ``dask_logistic_rows`` training rows for the logistic baseline."""
    if tables.attendance_weeks.empty:
        raise TrainingDataError("there is no attendance data: import or generate data first")
    max_week = int(tables.attendance_weeks["week"].max())
    folds = temporal_folds(max_week, config)
    shared = client.scatter(tables, broadcast=True)

    def rows_of(weeks: Sequence[int]) -> DaskFrame:
        return dask_training_set(client, shared, weeks, config, questionnaire, max_week)

    train = client.persist(rows_of(folds.train))
    calibration_all = collect(client, rows_of(folds.calibration_all_year))
    test_all = collect(client, rows_of(folds.test_all_year))
    calibration = calibration_all[calibration_all["as_of"].isin(folds.calibration)].reset_index(drop=True)
    test = test_all[test_all["as_of"].isin(folds.test) & test_all["label_mature"]].reset_index(drop=True)
    train_rows, positives = (int(v) for v in client.compute([train.shape[0], train[LABEL].sum()], sync=True))
    check_fold_counts(train_rows, positives, "train", config)
    for frame, name in ((calibration, "calibration"), (test, "test")):
        check_fold(frame, name, config)
    share = min(1.0, config.dask_logistic_rows / train_rows)
    sample = train if share >= 1.0 else train.sample(frac=share, random_state=config.seed)
    return Prepared(
        folds,
        collect(client, sample),
        calibration,
        test,
        test_all,
        max_week,
        calibration_all,
        fitter=dask_booster_fitter(client, train, config.dask_network_timeout_minutes),
        train_rows=train_rows,
    )
