"""Train and evaluate the project's model family on a plain table with a binary target.

The model family is the one the risk model uses: a scikit-learn pipeline ending in a LightGBM classifier,
calibrated (isotonic or sigmoid) on rows the trees were not fitted on. This module runs it on any table
with a target column, so it can be checked on real public data (``../shared/realdata/``) as well as on the
synthetic school.

Evaluation (:func:`cross_validate_table`): stratified k-fold cross-validation (default 5 folds, shuffled
with the task's seed). Every fold fits three models on the same training rows and scores the same test rows:

* ``lightgbm_calibrated``: :func:`make_model` with :data:`DEFAULT_LGBM_PARAMS` (fixed up front, not tuned
  on these folds), calibration chosen inside the training part of the fold when ``calibration="auto"``;
* ``lightgbm_untuned``: ``LGBMClassifier()`` with its library defaults, uncalibrated;
* ``logistic_regression``: median imputation, standardisation, ``LogisticRegression()``.

Metrics are ROC-AUC, PR-AUC (average precision), Brier score and expected calibration error (ECE, 10
equal-width bins), per fold, as mean and standard deviation over folds, and pooled over all out-of-fold
predictions.

Feature columns must be numeric (bool counts as numeric): text or categorical columns are refused with a
message naming them rather than silently encoded; encode them first or leave them out with
``TableTask(features=...)``. Missing values in features are allowed (LightGBM handles them; the logistic
baseline imputes the median).

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
from lightgbm import LGBMClassifier
from sklearn.calibration import CalibratedClassifierCV
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from tqdm import tqdm

from models.metrics import expected_calibration_error

Calibration = Literal["isotonic", "sigmoid"]
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
# few thousand rows and a few dozen columns.
DEFAULT_LGBM_PARAMS: Mapping[str, Any] = MappingProxyType(
    {
        "objective": "binary",
        # Small steps with many trees: lower variance than the library's 0.1 x 100 on a few thousand rows.
        "learning_rate": 0.03,
        # Fixed number of rounds (no early stopping, so no rows are spent on a stopping set);
        # 500 x 0.03 is a moderate total step for ~3,500 training rows.
        "n_estimators": 500,
        # Shallower trees than the default 31 leaves: fewer rows per leaf would mean noisy leaf values.
        "num_leaves": 15,
        # The library default, stated explicitly: a leaf needs at least 20 rows (~0.5% of a training fold).
        "min_child_samples": 20,
        # Row bagging on every round (subsample has no effect unless subsample_freq > 0): less variance.
        "subsample": 0.8,
        "subsample_freq": 1,
        # Column sampling per tree: many columns are strongly correlated (credits, grades per semester).
        "colsample_bytree": 0.8,
        # Mild L2 shrinkage of leaf values, mostly affecting leaves with few rows.
        "reg_lambda": 1.0,
        # Quiet: LightGBM otherwise logs every fit.
        "verbose": -1,
        # CI machines have two cores; more threads than cores only slows small fits down.
        "n_jobs": 2,
    }
)
# Internal folds of CalibratedClassifierCV: each calibrator is fitted on the fold its trees did not see.
CALIBRATION_FOLDS = 5
# Share of a training fold held out to choose between isotonic and sigmoid when calibration="auto".
AUTO_VALIDATION_SHARE = 0.25
ECE_BINS = 10


@dataclass(frozen=True)
class TableTask:
    """What to predict from a table: ``target`` is positive when it equals one of ``positive``.

    ``features`` defaults to every column but the target. Rows are split into ``n_folds`` stratified folds
    shuffled with ``seed``; the same seed drives the models.
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
    # Brier score of each calibration method on the inner validation split (empty if not chosen by "auto").
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
    """The task's feature columns, checked against the frame: present, numeric, not the target."""
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
    return as_float_frame(frame, list(columns)), y


# --- models -----------------------------------------------------------------------------------------------


def as_float_frame(frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """``frame`` restricted to ``columns`` (in that order) as float64; all columns if ``columns`` is None."""
    if columns is not None:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"columns missing from the input: {missing}")
        frame = frame[columns]
    return frame.astype("float64")


def _prep_step(features: Sequence[str] | None) -> Any:
    """Select the feature columns in a fixed order and cast to float, so scoring ignores column order."""
    kw_args = {"columns": list(features)} if features is not None else None
    return FunctionTransformer(as_float_frame, kw_args=kw_args, feature_names_out="one-to-one")


def lgbm_params(params: Mapping[str, Any] | None = None, seed: int = 0) -> dict[str, Any]:
    """:data:`DEFAULT_LGBM_PARAMS` with ``random_state=seed``, overridden key by key by ``params``."""
    return {**DEFAULT_LGBM_PARAMS, "random_state": seed, **(params or {})}


def make_model(
    params: Mapping[str, Any] | None = None,
    calibration: Calibration = "isotonic",
    *,
    features: Sequence[str] | None = None,
    seed: int = 0,
    calibration_folds: int = CALIBRATION_FOLDS,
) -> Any:
    """The model family: (column selection + float cast) -> LightGBM, calibrated out of fold.

    ``CalibratedClassifierCV`` splits its training rows into ``calibration_folds`` stratified folds
    (shuffled with ``seed``); for each it fits the pipeline on the other folds and the calibrator on
    this one, and averages the calibrated probabilities of the resulting models.
    """
    if calibration not in CALIBRATIONS:
        raise ValueError(f"calibration must be one of {CALIBRATIONS}, got {calibration!r}")
    pipeline = Pipeline(
        [("prep", _prep_step(features)), ("lgbm", LGBMClassifier(**lgbm_params(params, seed)))]
    )
    inner = StratifiedKFold(n_splits=calibration_folds, shuffle=True, random_state=seed)
    return CalibratedClassifierCV(estimator=pipeline, method=calibration, cv=inner)


def make_untuned_lightgbm(seed: int = 0) -> Any:
    """LightGBM with the library's default parameters (only the seed, quiet, 2 threads), uncalibrated."""
    lgbm = LGBMClassifier(random_state=seed, verbose=-1, n_jobs=2)
    return Pipeline([("prep", _prep_step(None)), ("lgbm", lgbm)])


def make_logistic_baseline() -> Any:
    """Median imputation, standardisation, logistic regression with default regularisation (C=1)."""
    return Pipeline(
        [
            ("prep", _prep_step(None)),
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            ("logit", LogisticRegression(max_iter=5000)),
        ]
    )


def positive_proba(model: Any, x: pd.DataFrame) -> FloatArray:
    return np.asarray(model.predict_proba(x)[:, 1], dtype=np.float64)


def choose_calibration(
    x: pd.DataFrame,
    y: IntArray,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    validation_share: float = AUTO_VALIDATION_SHARE,
) -> tuple[Calibration, dict[str, float]]:
    """Isotonic or sigmoid, whichever gives the lower Brier score on a stratified validation split of
    ``x``/``y`` (a tie goes to sigmoid, the method with fewer degrees of freedom). Only ``x``/``y`` are used:
    pass the training part of a fold, never its test part."""
    fit_x, val_x, fit_y, val_y = train_test_split(
        x, y, test_size=validation_share, stratify=y, random_state=seed
    )
    scores: dict[str, float] = {}
    for method in CALIBRATIONS:
        model = make_model(params, method, seed=seed).fit(fit_x, fit_y)
        scores[method] = float(brier_score_loss(val_y, positive_proba(model, val_x)))
    chosen: Calibration = "isotonic" if scores["isotonic"] < scores["sigmoid"] else "sigmoid"
    return chosen, scores


def fit_table_model(
    frame: pd.DataFrame,
    task: TableTask,
    params: Mapping[str, Any] | None = None,
    calibration: CalibrationChoice = "auto",
) -> tuple[Any, Calibration]:
    """Fit the calibrated model on every row of ``frame``; returns the model and the calibration used."""
    x, y = prepare(frame, task)
    chosen = _resolve_calibration(calibration, x, y, params, task.seed)[0]
    model = make_model(params, chosen, features=list(x.columns), seed=task.seed).fit(x, y)
    return model, chosen


def _resolve_calibration(
    calibration: CalibrationChoice,
    x: pd.DataFrame,
    y: IntArray,
    params: Mapping[str, Any] | None,
    seed: int,
) -> tuple[Calibration, dict[str, float]]:
    if calibration == "auto":
        return choose_calibration(x, y, params, seed)
    if calibration not in CALIBRATIONS:
        raise ValueError(f"calibration must be 'auto' or one of {CALIBRATIONS}, got {calibration!r}")
    return calibration, {}


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
) -> tuple[Calibration, dict[str, float], dict[str, FloatArray]]:
    """Fit the three models on one fold's training rows; probabilities on its test rows."""
    chosen, inner = _resolve_calibration(calibration, x_train, y_train, params, seed)
    models = {
        MODEL: make_model(params, chosen, features=list(x_train.columns), seed=seed),
        UNTUNED: make_untuned_lightgbm(seed),
        LOGISTIC: make_logistic_baseline(),
    }
    probs = {name: positive_proba(model.fit(x_train, y_train), x_test) for name, model in models.items()}
    return chosen, inner, probs


def cross_validate_table(
    frame: pd.DataFrame,
    task: TableTask,
    params: Mapping[str, Any] | None = None,
    calibration: CalibrationChoice = "auto",
    progress: bool = False,
    source: str = "",
) -> TableReport:
    """Stratified k-fold cross-validation of the calibrated model and both baselines on the same folds.

    With ``calibration="auto"`` each fold chooses isotonic or sigmoid on its own training rows
    (:func:`choose_calibration`); the test rows of a fold are used only to score it.
    """
    started = time.perf_counter()
    x, y = prepare(frame, task)
    splitter = StratifiedKFold(n_splits=task.n_folds, shuffle=True, random_state=task.seed)
    oof = {name: np.full(len(y), np.nan) for name in MODEL_NAMES}
    folds: list[FoldResult] = []
    splits = list(splitter.split(x, y))
    for i, (train, test) in enumerate(
        tqdm(splits, desc="cross-validation", unit="fold", disable=not progress)
    ):
        chosen, inner, probs = _fit_fold(
            x.iloc[train], y[train], x.iloc[test], params, calibration, task.seed
        )
        for name, p in probs.items():
            oof[name][test] = p
        folds.append(
            FoldResult(
                fold=i,
                n_train=len(train),
                n_test=len(test),
                n_test_positive=int(y[test].sum()),
                calibration=chosen,
                inner_brier=inner,
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
            f"(StratifiedKFold, shuffle=True, random_state={task.seed})"
        ),
        params=lgbm_params(params, task.seed),
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
    MODEL: "LightGBM, fixed parameters, calibrated",
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
    lines += ["", f"LightGBM parameters of the calibrated model: {params}."]
    return "\n".join(lines) + "\n"


# --- command line -----------------------------------------------------------------------------------------


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Cross-validate the model family on a CSV table.")
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
