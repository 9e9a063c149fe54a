"""Service settings from environment variables (prefix ``VSV_``).

Read through the cached :func:`get_settings`, and pass the result on; nothing here runs on import.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_PSEUDONYM_KEY = "development-only-pseudonym-key-change-me"


class Settings(BaseSettings):
    """All service settings. Every field can be set as ``VSV_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="VSV_", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    var_dir: Path = Field(default=Path("var"), description="Runtime state: database, MLflow store, reports.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default is SQLite at <var_dir>/vsv.db."
    )
    pseudonym_key: str = Field(
        default=DEV_PSEUDONYM_KEY,
        description="Secret key of the keyed hash that pseudonymises student numbers.",
    )
    questionnaire_config: Path | None = Field(
        default=None, description="YAML file with the questionnaire items; default is the shipped one."
    )

    mlflow_tracking_uri: str | None = Field(
        default=None, description="MLflow tracking/registry URI; default is SQLite at <var_dir>/mlflow.db."
    )
    mlflow_artifact_root: Path | None = Field(
        default=None, description="Where MLflow stores artefacts; default <var_dir>/mlartifacts."
    )
    registered_model: str = Field(default="vsv-risk", description="Name of the model in the MLflow registry.")

    host: str = Field(default="127.0.0.1", description="Address `vsv serve` listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `vsv serve` listens on.")
    workers: int = Field(default=1, ge=1, le=64, description="Uvicorn worker processes of `vsv serve`.")
    load_model_on_startup: bool = Field(
        default=True, description="Load the champion from the registry when the service starts."
    )

    def resolved_mlflow_uri(self) -> str:
        """The MLflow tracking URI in force."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.var_dir / 'mlflow.db').resolve().as_posix()}"

    def resolved_artifact_root(self) -> Path:
        return (self.mlflow_artifact_root or self.var_dir / "mlartifacts").resolve()

    def resolved_database_url(self) -> str:
        """The database URL in force: the configured one, or SQLite under ``var_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'vsv.db').as_posix()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once from the environment."""
    return Settings()
