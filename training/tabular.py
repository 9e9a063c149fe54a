"""Train and evaluate the served model family on a plain table with a binary target.

The model is the one ``vsv train`` registers and serving scores with, built by the same code:
:func:`models.risk_model.make_pipeline` (column selection, then LightGBM) fitted on one part of the
training rows, and one :class:`models.risk_model.Calibrator` fitted on the booster's raw scores of the
other, held-out part, with isotonic or sigmoid chosen by :func:`training.fit.choose_calibration` when
``calibration="auto"``. Both steps are :func:`training.fit.fit_calibrated_booster`, which
``training.fit.fit_risk_model`` also uses. This module runs that family on any table with a target column,
so it can be checked on real public data (``../shared/realdata/``) as well as on the synthetic school.
Only the LightGBM parameters differ from ``vsv train``: :data:`DEFAULT_LGBM_PARAMS` here, the training
configuration's ``lgbm`` there.

Evaluation (:func:`cross_validate_table`): stratified k-fold cross-validation (default 5 folds, shuffled
with the task's seed). Every fold fits three models on the same training rows and scores the same test rows:

* ``lightgbm_calibrated``: the served family. The fold's training rows are split (stratified, seeded)
  into a fit part for the booster and a calibration part (:data:`CALIBRATION_SHARE`) for the calibrator
  and, with ``calibration="auto"``, the choice of its method; the test rows only score the fold;
* ``lightgbm_untuned``: the same pipeline with LightGBM's library defaults, uncalibrated, on all the
  fold's training rows;
* ``logistic_regression``: standardisation and ``LogisticRegression()`` on all the fold's training rows.

Metrics are ROC-AUC, PR-AUC (average precision), Brier score and expected calibration error (ECE, 10
equal-width bins, :func:`models.metrics.expected_calibration_error`), per fold, as mean and standard
deviation over folds, and pooled over all out-of-fold predictions.

Feature columns must be numeric (bool counts as numeric) and complete: text or categorical columns, and
columns with missing values (which the served model refuses), are refused with a message naming them
rather than silently encoded or imputed; encode or fill them first, or leave them out with
``TableTask(features=...)``.

Run on the UCI dropout file (Dropout vs the rest)::

    python -m training.tabular --csv ../shared/realdata/uci_dropout/data.csv \
        --target Target --positive Dropout
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from models.metrics import expected_calibration_error
from models.risk_model import CalibrationMethod, ColumnSelector, make_pipeline
from training.fit import CalibratedBooster, fit_calibrated_booster

Calibration = CalibrationMethod
CalibrationChoice = Literal["isotonic", "sigmoid", "auto"]
Label = str | int | float | bool
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

CALIBRATIONS: tuple[Calibration, ...] = ("isotonic", "sigmoid")
MODEL = "lightgbm_calibrated"
UNTUNED = "lightgbm_untuned"
LOGISTIC = "logistic_regression"
MODEL_NAMES: tuple[str, ...] = (MODEL, UNTUNED, LOGISTIC)

# Fixed before any run on real data and not tuned on the folds that are reported. Chosen for tables of a
# few thousand rows and a few dozen columns. ``random_state`` (the task's seed) and ``verbose=-1`` are set
# by make_pipeline.
DEFAULT_LGBM_PARAMS: Mapping[str, Any] = MappingProxyType(
    {
        "objective": "binary",
        # Small steps with many trees: lower variance than the library's 0.1 x 100 on a few thousand rows.
        "learning_rate": 0.03,
        # Fixed number of rounds (no early stopping, so no rows are spent on a stopping set);
        # 500 x 0.03 is a moderate total step for a few thousand training rows.
        "n_estimators": 500,
        # Shallower trees than the default 31 leaves: fewer rows per leaf would mean noisy leaf values.
        "num_leaves": 15,
        # The library default, stated explicitly: a leaf needs at least 20 rows.
        "min_child_samples": 20,
        # Row bagging on every round (subsample has no effect unless subsample_freq > 0): less variance.
        "subsample": 0.8,
        "subsample_freq": 1,
        # Column sampling per tree: many columns are strongly correlated (credits, grades per semester).
        "colsample_bytree": 0.8,
        # Mild L2 shrinkage of leaf values, mostly affecting leaves with few rows.
        "reg_lambda": 1.0,
        # CI machines have two cores; more threads than cores only slows small fits down.
        "n_jobs": 2,
    }
)
# Parameters make_pipeline sets itself; overriding them through ``params`` is refused.
PIPELINE_SET_PARAMS = ("random_state", "verbose")
# Share of a fold's training rows held out from the booster to fit the calibrator (and choose its method).
CALIBRATION_SHARE = 0.25
ECE_BINS = 10


@dataclass(frozen=True)
class TableTask:
    """What to predict from a table: ``target`` is positive when it equals one of ``positive``.

    ``features`` defaults to every column but the target. Rows are split into ``n_folds`` stratified folds
    shuffled with ``seed``; the same seed drives the models and the fit/calibration split of each fold.
    """

    target: str
    positive: tuple[Label, ...]
    features: tuple[str, ...] | None = None
    seed: int = 0
    n_folds: int = 5

    def __post_init__(self) -> None:
        if isinstance(self.positive, str | int | float | bool):
            object.__setattr__(self, "positive", (self.positive,))
        if not self.positive:
            raise ValueError("TableTask.positive needs at least one positive label")
        if self.features is not None:
            object.__setattr__(self, "features", tuple(self.features))
        if self.n_folds < 2:
            raise ValueError(f"TableTask.n_folds must be at least 2, got {self.n_folds}")


@dataclass(frozen=True)
class Metrics:
    roc_auc: float
    pr_auc: float
    brier: float
    ece: float


@dataclass(frozen=True)
class FoldResult:
    fold: int
    n_train: int
    n_test: int
    n_test_positive: int
    calibration: Calibration
    # Brier score of each calibration method in choose_calibration's split of the calibration rows
    # (empty if the method was not chosen by "auto").
    inner_brier: Mapping[str, float]
    metrics: Mapping[str, Metrics]


@dataclass(frozen=True)
class TableReport:
    task: TableTask
    source: str
    n_rows: int
    n_positive: int
    features: tuple[str, ...]
    split: str
    params: Mapping[str, Any]
    calibration_requested: CalibrationChoice
    folds: tuple[FoldResult, ...]
    mean: Mapping[str, Metrics]
    std: Mapping[str, Metrics]
    pooled: Mapping[str, Metrics]
    seconds: float
    # Out-of-fold probabilities per model, in the row order of the input table (not in the markdown).
    oof: Mapping[str, FloatArray] = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Everything but the out-of-fold probabilities, as JSON-ready values."""
        out = asdict(self)
        out.pop("oof")
        out["params"] = dict(self.params)
        return out


# --- reading ----------------------------------------------------------------------------------------------


def guess_separator(header: str) -> str:
    """The most frequent of ``;``, ``,``, tab and ``|`` in a header line (``,`` if none occurs)."""
    counts = {sep: header.count(sep) for sep in (";", ",", "\t", "|")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] > 0 else ","


def read_table(path: Path, sep: str | None = None) -> pd.DataFrame:
    """Read a CSV table: UTF-8 with or without byte-order mark, separator guessed from the header if
    ``sep`` is None, column names stripped of surrounding whitespace (the UCI file has a trailing tab)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"table not found (or not a file): {path}")
    try:
        if sep is None:
            with path.open(encoding="utf-8-sig") as handle:
                sep = guess_separator(handle.readline())
        frame = pd.read_csv(path, sep=sep, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path} as a CSV table: {exc}") from exc
    frame.columns = pd.Index([str(c).strip() for c in frame.columns])
    duplicated = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
    if duplicated:
        raise ValueError(f"{path}: duplicate column names after stripping whitespace: {duplicated}")
    if frame.empty:
        raise ValueError(f"{path}: the table has no data rows")
    return frame


# --- task checks ------------------------------------------------------------------------------------------


def feature_columns(frame: pd.DataFrame, task: TableTask) -> tuple[str, ...]:
    """The task's feature columns, checked against the frame: present, numeric, complete, not the target."""
    if task.target not in frame.columns:
        raise ValueError(f"target column {task.target!r} not in the table; columns: {list(frame.columns)}")
    columns = (
        task.features if task.features is not None else tuple(c for c in frame.columns if c != task.target)
    )
    if not columns:
        raise ValueError("no feature columns: the table has only the target column")
    if task.target in columns:
        raise ValueError(f"the target column {task.target!r} is also listed as a feature")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"feature columns not in the table: {missing}")
    non_numeric = [c for c in columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise ValueError(
            f"non-numeric feature columns {non_numeric}: encode them as numbers first (e.g. one-hot) "
            "or leave them out with TableTask(features=...)"
        )
    incomplete = [c for c in columns if frame[c].isna().any()]
    if incomplete:
        raise ValueError(
            f"feature columns with missing values {incomplete}: the served model refuses them "
            "(models.risk_model.ColumnSelector); fill them first or leave them out with "
            "TableTask(features=...)"
        )
    return tuple(columns)


def binary_target(frame: pd.DataFrame, task: TableTask) -> IntArray:
    """1 where the target equals one of the positive labels (compared as values or as text), else 0."""
    if task.target not in frame.columns:
        raise ValueError(f"target column {task.target!r} not in the table; columns: {list(frame.columns)}")
    column = frame[task.target]
    if column.isna().any():
        raise ValueError(f"target column {task.target!r} has {int(column.isna().sum())} missing values")
    as_text = column.astype(str).str.strip()
    positive = column.isin(list(task.positive)) | as_text.isin([str(p).strip() for p in task.positive])
    return np.asarray(positive.to_numpy(), dtype=np.int64)


def check_classes(y: IntArray, n_folds: int, positive: Sequence[Label]) -> None:
    """Both classes present, and the smaller one has at least one row per fold."""
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"the target has a single class with positive labels {list(positive)}: "
            f"{n_pos} positive and {n_neg} negative rows"
        )
    if min(n_pos, n_neg) < n_folds:
        raise ValueError(
            f"the minority class has {min(n_pos, n_neg)} rows, fewer than the {n_folds} folds "
            "of cross-validation"
        )


def prepare(frame: pd.DataFrame, task: TableTask) -> tuple[pd.DataFrame, IntArray]:
    """Features (float64, in the task's column order) and the 0/1 target, after every check."""
    columns = feature_columns(frame, task)
    y = binary_target(frame, task)
    check_classes(y, task.n_folds, task.positive)
    return frame[list(columns)].astype("float64"), y


# --- models -----------------------------------------------------------------------------------------------


def lgbm_params(params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """:data:`DEFAULT_LGBM_PARAMS` overridden key by key by ``params``: what goes to ``make_pipeline``."""
    merged = {**DEFAULT_LGBM_PARAMS, **(params or {})}
    reserved = sorted(set(PIPELINE_SET_PARAMS) & set(merged))
    if reserved:
        raise ValueError(
            f"LightGBM parameters {reserved} are set by make_pipeline (the seed is TableTask.seed)"
        )
    return merged


def fit_model(
    x: pd.DataFrame,
    y: IntArray,
    params: Mapping[str, Any] | None = None,
    calibration: CalibrationChoice = "auto",
    seed: int = 0,
    calibration_share: float = CALIBRATION_SHARE,
) -> CalibratedBooster:
    """The served family fitted on ``x``/``y``: the booster on a stratified, seeded ``1 - calibration_share``
    of the rows, the calibrator (its method chosen when ``calibration="auto"``) on the rest.

    Each row is its own group in :func:`training.fit.choose_calibration` (a table has no student ids).
    """
    fit_x, cal_x, fit_y, cal_y = train_test_split(
        x, y, test_size=calibration_share, stratify=y, random_state=seed
    )
    if len(np.unique(cal_y)) < 2:
        raise ValueError(
            f"the calibration part ({len(cal_y)} rows) has a single class: too few positive rows"
        )
    return fit_calibrated_booster(
        fit_x,
        fit_y,
        cal_x,
        cal_y,
        features=list(x.columns),
        params=lgbm_params(params),
        seed=seed,
        method=calibration,
        groups=np.arange(len(cal_y)),
    )


def make_untuned_lightgbm(features: Sequence[str], seed: int = 0) -> Pipeline:
    """The served pipeline with LightGBM's default parameters (only the seed, quiet, 2 threads)."""
    return make_pipeline(features, {"n_jobs": 2}, seed)


def make_logistic_baseline(features: Sequence[str]) -> Pipeline:
    """Standardisation and logistic regression with default regularisation (C=1)."""
    return Pipeline(
        [
            ("select", ColumnSelector(tuple(features))),
            ("scale", StandardScaler()),
            ("logit", LogisticRegression(max_iter=5000)),
        ]
    )


def positive_proba(model: Any, x: pd.DataFrame) -> FloatArray:
    """Probability of the positive class from a fitted classifier (a scikit-learn pipeline or the
    :class:`~training.fit.CalibratedBooster`, whose ``predict_proba`` already returns one column)."""
    proba = np.asarray(model.predict_proba(x), dtype=np.float64)
    return proba if proba.ndim == 1 else proba[:, 1]


def fit_table_model(
    frame: pd.DataFrame,
    task: TableTask,
    params: Mapping[str, Any] | None = None,
    calibration: CalibrationChoice = "auto",
) -> tuple[CalibratedBooster, Calibration]:
    """Fit the served family on every row of ``frame``; returns the model and the calibration used."""
    x, y = prepare(frame, task)
    model = fit_model(x, y, params, calibration, task.seed)
    return model, model.method


# --- metrics ----------------------------------------------------------------------------------------------


def score(y: IntArray, p: FloatArray) -> Metrics:
    """ROC-AUC, PR-AUC (average precision), Brier score and ECE of probabilities ``p`` for labels ``y``."""
    return Metrics(
        roc_auc=float(roc_auc_score(y, p)),
        pr_auc=float(average_precision_score(y, p)),
        brier=float(brier_score_loss(y, p)),
        ece=expected_calibration_error(y, p, ECE_BINS, strategy="uniform"),
    )


def summarise(metrics: Sequence[Metrics]) -> tuple[Metrics, Metrics]:
    """Mean and sample standard deviation (0 for a single value) of each metric."""
    names = list(Metrics.__dataclass_fields__)
    values = np.array([[getattr(m, n) for n in names] for m in metrics], dtype=np.float64)
    std = values.std(axis=0, ddof=1) if len(metrics) > 1 else np.zeros(len(names))
    mean_m = Metrics(**{n: float(v) for n, v in zip(names, values.mean(axis=0), strict=True)})
    std_m = Metrics(**{n: float(v) for n, v in zip(names, std, strict=True)})
    return mean_m, std_m


# --- cross-validation -------------------------------------------------------------------------------------


def _fit_fold(
    x_train: pd.DataFrame,
    y_train: IntArray,
    x_test: pd.DataFrame,
    params: Mapping[str, Any] | None,
    calibration: CalibrationChoice,
    seed: int,
) -> tuple[CalibratedBooster, dict[str, FloatArray]]:
    """Fit the three models on one fold's training rows; probabilities on its test rows."""
    features = list(x_train.columns)
    model = fit_model(x_train, y_train, params, calibration, seed)
    baselines = {UNTUNED: make_untuned_lightgbm(features, seed), LOGISTIC: make_logistic_baseline(features)}
    probs = {MODEL: positive_proba(model, x_test)}
    probs |= {name: positive_proba(b.fit(x_train, y_train), x_test) for name, b in baselines.items()}
    return model, probs


def cross_validate_table(
    frame: pd.DataFrame,
    task: TableTask,
    params: Mapping[str, Any] | None = None,
    calibration: CalibrationChoice = "auto",
    progress: bool = False,
    source: str = "",
) -> TableReport:
    """Stratified k-fold cross-validation of the served family and both baselines on the same folds.

    Within each fold the served family is fitted by :func:`fit_model` on the fold's training rows only
    (booster and calibrator on disjoint parts of them); the test rows of a fold are used only to score it.
    """
    started = time.perf_counter()
    x, y = prepare(frame, task)
    pipeline_params = lgbm_params(params)  # refuses reserved keys before any fit
    splitter = StratifiedKFold(n_splits=task.n_folds, shuffle=True, random_state=task.seed)
    oof = {name: np.full(len(y), np.nan) for name in MODEL_NAMES}
    folds: list[FoldResult] = []
    splits = list(splitter.split(x, y))
    for i, (train, test) in enumerate(
        tqdm(splits, desc="cross-validation", unit="fold", disable=not progress)
    ):
        model, probs = _fit_fold(x.iloc[train], y[train], x.iloc[test], params, calibration, task.seed)
        for name, p in probs.items():
            oof[name][test] = p
        folds.append(
            FoldResult(
                fold=i,
                n_train=len(train),
                n_test=len(test),
                n_test_positive=int(y[test].sum()),
                calibration=model.method,
                inner_brier=dict(model.calibration_brier),
                metrics={name: score(y[test], p) for name, p in probs.items()},
            )
        )
    summaries = {name: summarise([f.metrics[name] for f in folds]) for name in MODEL_NAMES}
    return TableReport(
        task=task,
        source=source,
        n_rows=len(y),
        n_positive=int(y.sum()),
        features=tuple(x.columns),
        split=(
            f"{task.n_folds}-fold stratified cross-validation "
            f"(StratifiedKFold, shuffle=True, random_state={task.seed}); in each fold the served model's "
            f"booster is fitted on {1 - CALIBRATION_SHARE:.0%} of the training rows and its calibrator on "
            f"the other {CALIBRATION_SHARE:.0%} (stratified, random_state={task.seed})"
        ),
        params={**pipeline_params, "random_state": task.seed, "verbose": -1},
        calibration_requested=calibration,
        folds=tuple(folds),
        mean={name: s[0] for name, s in summaries.items()},
        std={name: s[1] for name, s in summaries.items()},
        pooled={name: score(y, oof[name]) for name in MODEL_NAMES},
        seconds=round(time.perf_counter() - started, 1),
        oof=oof,
    )


# --- reporting --------------------------------------------------------------------------------------------

_MODEL_LABELS = {
    MODEL: "served family: LightGBM, fixed parameters, + Calibrator",
    UNTUNED: "LightGBM, library defaults, uncalibrated",
    LOGISTIC: "standardised logistic regression",
}


def _cell(mean: float, std: float) -> str:
    return f"{mean:.3f} ± {std:.3f}"


def report_to_markdown(report: TableReport) -> str:
    """The report as markdown: setup, a summary table (mean ± sd over folds, and pooled), folds."""
    task = report.task
    chosen = ", ".join(f.calibration for f in report.folds)
    lines = [
        f"Data: `{report.source or 'table'}`, {report.n_rows} rows, {report.n_positive} positive "
        f"(`{task.target}` in {list(task.positive)}), {len(report.features)} features.",
        f"Split: {report.split}; every model is fitted and scored on the same folds.",
        f"Calibration: requested `{report.calibration_requested}`, used per fold: {chosen}.",
        f"Wall time: {report.seconds:.1f} s.",
        "",
        "| model | ROC-AUC | PR-AUC | Brier | ECE |",
        "|---|---|---|---|---|",
    ]
    for name in MODEL_NAMES:
        mean, std = report.mean[name], report.std[name]
        cells = [_cell(getattr(mean, n), getattr(std, n)) for n in Metrics.__dataclass_fields__]
        lines.append(f"| {_MODEL_LABELS[name]} (mean ± sd over folds) | " + " | ".join(cells) + " |")
    for name in MODEL_NAMES:
        pooled = report.pooled[name]
        cells = [f"{getattr(pooled, n):.3f}" for n in Metrics.__dataclass_fields__]
        lines.append(f"| {_MODEL_LABELS[name]} (pooled out-of-fold) | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| fold | test rows | positive | calibration | "
        + " | ".join(f"{n} ROC-AUC" for n in MODEL_NAMES)
        + " |",
        "|---|---|---|---|" + "---|" * len(MODEL_NAMES),
    ]
    for f in report.folds:
        aucs = " | ".join(f"{f.metrics[n].roc_auc:.3f}" for n in MODEL_NAMES)
        lines.append(f"| {f.fold} | {f.n_test} | {f.n_test_positive} | {f.calibration} | {aucs} |")
    params = ", ".join(f"{k}={v}" for k, v in report.params.items())
    lines += ["", f"LightGBM parameters of the served-family model: {params}."]
    return "\n".join(lines) + "\n"


# --- command line -----------------------------------------------------------------------------------------


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Cross-validate the served model family on a CSV table.")
    parser.add_argument("--csv", type=Path, required=True, help="the table (CSV)")
    parser.add_argument("--target", required=True, help="target column")
    parser.add_argument("--positive", nargs="+", required=True, help="label(s) of the positive class")
    parser.add_argument("--features", nargs="+", default=None, help="feature columns (default: all others)")
    parser.add_argument("--sep", default=None, help="separator (default: guessed from the header)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calibration", choices=["auto", *CALIBRATIONS], default="auto")
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON here")
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        frame = read_table(args.csv, args.sep)
        task = TableTask(
            target=args.target,
            positive=tuple(args.positive),
            features=tuple(args.features) if args.features else None,
            seed=args.seed,
            n_folds=args.folds,
        )
        report = cross_validate_table(
            frame,
            task,
            calibration=cast(CalibrationChoice, args.calibration),
            progress=not args.no_progress,
            source=str(args.csv),
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report_to_markdown(report), end="")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_dict(), indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
