"""Scoring and explaining from a NumPy matrix, through the LightGBM booster directly.

:class:`models.risk_model.RiskModel` scores with these functions. The model's columns are selected and
checked once per call (:class:`ModelRows`), into one C-contiguous float64 matrix in the model's feature
order; the raw log-odds and the SHAP contributions both come from that matrix:

* :func:`raw_scores`: ``Booster.predict(X, raw_score=True)``, what ``LGBMClassifier.predict(...,
  raw_score=True)`` returns (the same booster call, without the scikit-learn wrapper's validation);
* :func:`contributions`: ``Booster.predict(X, pred_contrib=True)``, LightGBM's own TreeSHAP (path
  dependent, exact). Its last column is the expected value, the base value of every row. This is the very
  call ``shap.TreeExplainer(...).shap_values`` makes for a LightGBM model without background data (SHAP
  0.51, ``feature_perturbation="tree_path_dependent"``), so the values are bit for bit those the SHAP
  library gave, and scores stored before replay identically.

No per-row DataFrame: a row of posted or stored feature values becomes a one-row matrix directly
(:meth:`ModelRows.from_values`). One row at a time (the on-demand score, a replay) goes through LightGBM's
single-row C API (:class:`BoosterPredictor`), the same code without setting up a predictor per call, and
calibration skips scikit-learn's per-call validation (:func:`calibrated`); both give the same floats.
"""

from __future__ import annotations

import ctypes
import os
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from lightgbm.libpath import _LIB
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

INSUFFICIENT_COLUMN = "insufficient_data"


def missing_columns_error(missing: Sequence[str]) -> ValueError:
    """The error for model columns absent from the input (as ``ColumnSelector`` words it)."""
    return ValueError(f"model input lacks columns {list(missing)[:10]}")


def check_complete(matrix: FloatArray, columns: Sequence[str]) -> None:
    """Refuse a missing value (NaN) in any model column, naming the columns (at most ten) in model order."""
    with_nan = np.asarray(np.isnan(matrix).any(axis=0), dtype=bool)
    if with_nan.any():
        bad = [name for name, nan in zip(columns, with_nan.tolist(), strict=True) if nan]
        raise ValueError(f"model input has missing values in {bad[:10]}")


def select_columns(frame: pd.DataFrame, columns: Sequence[str]) -> FloatArray:
    """The ``columns`` of ``frame`` as one float64 matrix, checked once: no missing column, no missing
    value. The same conversion and the same errors as ``ColumnSelector.transform``."""
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise missing_columns_error(missing)
    matrix = np.ascontiguousarray(frame.loc[:, list(columns)].astype("float64").to_numpy(), dtype=np.float64)
    check_complete(matrix, columns)
    return matrix


def matrix_from_values(values: Mapping[str, float], columns: Sequence[str]) -> FloatArray:
    """One row of feature values (``{name: value}``, e.g. posted or stored with a score) as a 1 x k matrix
    in ``columns`` order, checked like :func:`select_columns`."""
    missing = [name for name in columns if name not in values]
    if missing:
        raise missing_columns_error(missing)
    matrix = np.array([[float(values[name]) for name in columns]], dtype=np.float64)
    check_complete(matrix, columns)
    return matrix


@dataclass(frozen=True)
class ModelRows:
    """Rows to score: the checked model matrix plus the two things scoring reads beside it.

    ``weeks_since_start`` is the column the bands are cut by when the input had it (None: it had not, or
    it is a model column and is read from ``matrix``); ``insufficient`` the ``insufficient_data`` flags
    (None: the input had none).
    """

    matrix: FloatArray
    columns: tuple[str, ...]
    weeks_since_start: FloatArray | None = None
    insufficient: BoolArray | None = None

    def __len__(self) -> int:
        return int(self.matrix.shape[0])

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, columns: Sequence[str], week_column: str) -> ModelRows:
        """The model's ``columns`` of a snapshot ``frame`` (selected and checked once), its week column
        and its ``insufficient_data`` flags when it has them."""
        weeks = frame[week_column].to_numpy(dtype=np.float64) if week_column in frame.columns else None
        insufficient = (
            frame[INSUFFICIENT_COLUMN].to_numpy(dtype=bool) if INSUFFICIENT_COLUMN in frame.columns else None
        )
        return cls(select_columns(frame, columns), tuple(columns), weeks, insufficient)

    @classmethod
    def from_values(
        cls, values: Mapping[str, float], columns: Sequence[str], insufficient_data: bool
    ) -> ModelRows:
        """One row of feature values with its ``insufficient_data`` flag; the bands' week is read from
        the model columns (as for a frame holding only those)."""
        return cls(
            matrix_from_values(values, columns),
            tuple(columns),
            None,
            np.array([insufficient_data], dtype=bool),
        )

    def column(self, name: str) -> FloatArray | None:
        """A model column of every row, or None when ``name`` is not a model column."""
        if name not in self.columns:
            return None
        out: FloatArray = self.matrix[:, self.columns.index(name)]
        return out


def prediction_threads(n_jobs: int | None) -> int:
    """Threads for ``Booster.predict`` from a scikit-learn ``n_jobs``: None is OpenMP's default (0), a
    negative value all cores but ``-n_jobs - 1``. Threads split rows, so the count changes speed only."""
    if n_jobs is None:
        return 0
    if n_jobs < 0:
        return max((os.cpu_count() or 1) + 1 + n_jobs, 1)
    return n_jobs


def booster_of(classifier: lgb.LGBMClassifier) -> lgb.Booster:
    """The fitted booster inside a scikit-learn LightGBM classifier."""
    booster: lgb.Booster = classifier.booster_
    return booster


def raw_scores(booster: lgb.Booster, matrix: FloatArray, num_threads: int) -> FloatArray:
    """LightGBM log-odds of every row of ``matrix`` (before calibration)."""
    if len(matrix) == 0:
        return np.empty(0, dtype=np.float64)
    out = booster.predict(matrix, raw_score=True, num_threads=num_threads)
    return np.asarray(out, dtype=np.float64)


def contributions(booster: lgb.Booster, matrix: FloatArray, num_threads: int) -> tuple[FloatArray, float]:
    """TreeSHAP contributions (log-odds scale) of every row and column of ``matrix``, and the base value.

    ``base + contributions.sum(axis=1)`` equals :func:`raw_scores` up to rounding. With no rows the
    contributions are empty and the base value is NaN (as a score without explanation stores it).
    """
    if len(matrix) == 0:
        return np.empty((0, matrix.shape[1]), dtype=np.float64), float("nan")
    out = np.asarray(booster.predict(matrix, pred_contrib=True, num_threads=num_threads), dtype=np.float64)
    return np.ascontiguousarray(out[:, :-1]), float(out[0, -1])


def calibrated(method: str, fitted: Any, raw: FloatArray) -> FloatArray | None:
    """Calibrated probabilities of ``raw`` log-odds for a calibrator that goes through scikit-learn: the
    arithmetic ``Calibrator.transform`` runs, without scikit-learn's input validation on every call (on one
    row that costs more than the trees).

    Sigmoid: ``expit(raw @ coef_.T + intercept_)``, as ``LogisticRegression.predict_proba`` does for two
    classes; isotonic steps (models trained before the interpolated isotonic fit): the fitted interpolation
    ``f_`` on ``raw`` clipped to the fitted range, as ``IsotonicRegression.predict`` does; both clipped to
    0..1. The same operations in the same order, so the same floats (the tests compare them with
    ``Calibrator.transform`` exactly). None for anything else, the interpolated isotonic fit included
    (plain NumPy already): the caller then uses ``Calibrator.transform``.
    """
    raw = np.asarray(raw, dtype=np.float64).reshape(-1)
    if method == "isotonic" and isinstance(fitted, IsotonicRegression):
        f = getattr(fitted, "f_", None)
        if fitted.out_of_bounds != "clip" or f is None or fitted.X_thresholds_.dtype != np.float64:
            return None
        out = np.asarray(f(np.clip(raw, fitted.X_min_, fitted.X_max_)), dtype=np.float64)
    elif method == "sigmoid" and isinstance(fitted, LogisticRegression):
        coef, intercept = np.asarray(fitted.coef_), np.asarray(fitted.intercept_)
        if coef.shape != (1, 1) or intercept.shape != (1,) or len(fitted.classes_) != 2:
            return None
        out = expit(raw.reshape(-1, 1) @ coef.T + intercept).reshape(-1)
    else:
        return None
    clipped: FloatArray = np.clip(out, 0.0, 1.0)
    return clipped


# LightGBM's C API for one row at a time (c_api.h): set up once, then each call predicts without building a
# predictor and parsing its parameters again. Measured interleaved on one row of the demo champion (busy
# 2-core machine): about 45 us less a call for the raw score, about 50 us less for the contributions.
_PREDICT_RAW_SCORE = 1
_PREDICT_CONTRIB = 3
_DTYPE_FLOAT64 = 1


def _free_fast_config(library: ctypes.CDLL, handle: ctypes.c_void_p, _booster: lgb.Booster) -> None:
    """Free a single-row configuration; holding ``_booster`` until then keeps the booster it points to."""
    library.LGBM_FastConfigFree(handle)


class _SingleRow:
    """LightGBM's single-row prediction (``LGBM_BoosterPredictForMatSingleRowFast``) of one kind: the same
    code as ``Booster.predict`` on a one-row matrix, so the same floats. Calls are thread-safe: LightGBM
    takes the booster's lock for each (so they run one at a time), and each has its own output buffer."""

    def __init__(self, booster: lgb.Booster, predict_type: int, n_features: int, n_outputs: int) -> None:
        self._library: ctypes.CDLL = _LIB
        self._n_features, self._n_outputs = n_features, n_outputs
        self._handle = ctypes.c_void_p()
        lgb.basic._safe_call(
            self._library.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(predict_type),
                ctypes.c_int(0),
                ctypes.c_int(booster.best_iteration if booster.best_iteration > 0 else -1),
                ctypes.c_int(_DTYPE_FLOAT64),
                ctypes.c_int32(n_features),
                ctypes.c_char_p(b"num_threads=1"),
                ctypes.byref(self._handle),
            )
        )
        weakref.finalize(self, _free_fast_config, self._library, self._handle, booster)

    def predict(self, row: FloatArray) -> FloatArray:
        """The outputs for one row (``n_features`` contiguous float64 values)."""
        if row.shape != (self._n_features,) or row.dtype != np.float64 or not row.flags.c_contiguous:
            raise ValueError("a single-row prediction needs one contiguous float64 row of the model's width")
        out = np.empty(self._n_outputs, dtype=np.float64)
        length = ctypes.c_int64(0)
        lgb.basic._safe_call(
            self._library.LGBM_BoosterPredictForMatSingleRowFast(
                self._handle,
                row.ctypes.data_as(ctypes.c_void_p),
                ctypes.byref(length),
                out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
            )
        )
        if length.value != self._n_outputs:
            raise RuntimeError(f"LightGBM returned {length.value} values for one row, not {self._n_outputs}")
        return out


def _single_rows(booster: lgb.Booster, n_features: int) -> tuple[_SingleRow, _SingleRow] | None:
    """Single-row raw score and contributions, or None when this LightGBM does not offer them (then every
    call goes through ``Booster.predict``)."""
    try:
        return (
            _SingleRow(booster, _PREDICT_RAW_SCORE, n_features, 1),
            _SingleRow(booster, _PREDICT_CONTRIB, n_features, n_features + 1),
        )
    except (AttributeError, lgb.basic.LightGBMError):
        return None


class BoosterPredictor:
    """Raw scores and TreeSHAP contributions of one booster: a single row through LightGBM's single-row C
    API, more rows through ``Booster.predict`` (threads over rows). Both give the floats
    :func:`raw_scores` and :func:`contributions` give.

    It also has the two members callers of ``shap.TreeExplainer`` used, ``shap_values`` and
    ``expected_value``: the same values, without the SHAP library in the service.
    """

    def __init__(self, booster: lgb.Booster, n_features: int, num_threads: int) -> None:
        self.booster, self.n_features, self.num_threads = booster, n_features, num_threads
        self._single = _single_rows(booster, n_features)
        # The base value is the same for every row: explain one row of zeros (which also warms the booster).
        _, self.expected_value = self.contributions(np.zeros((1, n_features), dtype=np.float64))

    def raw(self, matrix: FloatArray) -> FloatArray:
        """LightGBM log-odds of every row of ``matrix``."""
        if self._single is not None and len(matrix) == 1:
            return self._single[0].predict(np.ascontiguousarray(matrix[0], dtype=np.float64))
        return raw_scores(self.booster, matrix, self.num_threads)

    def contributions(self, matrix: FloatArray) -> tuple[FloatArray, float]:
        """Contributions of every row and column of ``matrix``, and the base value."""
        if self._single is not None and len(matrix) == 1:
            out = self._single[1].predict(np.ascontiguousarray(matrix[0], dtype=np.float64))
            return out[:-1].reshape(1, -1), float(out[-1])
        return contributions(self.booster, matrix, self.num_threads)

    def shap_values(self, x: pd.DataFrame | FloatArray) -> FloatArray:
        """Contributions per row and feature of ``x`` (already in the model's column order)."""
        values, _ = self.contributions(np.ascontiguousarray(np.asarray(x, dtype=np.float64)))
        return values
