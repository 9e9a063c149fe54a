"""Service settings from environment variables (prefix ``VSV_``).

Read through the cached :func:`get_settings`, and pass the result on; nothing here runs on import.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_PSEUDONYM_KEY = "development-only-pseudonym-key-change-me"
# Environments in which the development defaults (the pseudonym key, demo users) are acceptable.
DEVELOPMENT_ENVIRONMENTS = frozenset({"development", "test"})
MIN_PSEUDONYM_KEY_LENGTH = 32


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
    action_types_config: Path | None = Field(
        default=None,
        description="YAML file with the action types mentors record; default is the shipped "
        "data/action_types.yaml.",
    )
    calendar_config: Path | None = Field(
        default=None,
        description="YAML file with the school calendar (school years, first school days, holidays) that "
        "gives school weeks their dates; default is the shipped data/school_calendar.yaml.",
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
    db_pool_size: int = Field(
        default=5,
        ge=1,
        le=200,
        description="PostgreSQL connections each service process keeps open for requests (10 more open "
        "under bursts); token look-ups and audit entries have a pool of the same size beside it. Keep "
        "workers x 2 x (pool + 10) under the server's max_connections.",
    )

    score_chunk_students: int = Field(
        default=50_000,
        ge=1,
        le=10_000_000,
        description="Students the weekly job loads, scores and stages at a time (bounds its memory; the "
        "week is swapped in by one transaction whatever the chunk size).",
    )
    alert_window_weeks: int = Field(
        default=2,
        ge=1,
        le=40,
        description="School weeks back from the latest week in the store whose answers raise zorgmeldingen; "
        "older answers (a history import) are stored and raise nothing.",
    )
    token_ttl_days: int = Field(
        default=90, ge=1, le=3650, description="Days a new bearer token is valid (`vsv users add`)."
    )
    auth_failures_per_minute: int = Field(
        default=10,
        ge=0,
        description="Failed logins (bad tokens) per client address per minute before 429; 0 switches off.",
    )
    max_json_body_bytes: int = Field(
        default=1024**2,
        ge=1024,
        description="Largest JSON or form body a request may send (bytes); larger ones get 413 before "
        "they are read, parsed or authenticated.",
    )
    max_upload_bytes: int = Field(
        default=512 * 1024**2,
        ge=1024,
        description="Largest CSV upload to `POST /api/v1/ingest` (bytes, all files together); larger "
        "ones get 413 before they are read or authenticated.",
    )
    max_listed_errors: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Validation errors listed in a 422 (the rest are counted per column and kind).",
    )
    web_session_minutes: int = Field(
        default=30,
        ge=1,
        le=24 * 60,
        description="Minutes a web session stays valid without use; each page view renews it.",
    )
    web_session_max_hours: int = Field(
        default=12,
        ge=1,
        le=7 * 24,
        description="Hours after which a web session ends even when it is in use (log in again).",
    )
    public_docs: bool | None = Field(
        default=None,
        description="Serve /docs and /openapi.json (from local assets, never a CDN). Default: on in "
        "development and test, off in production.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses of reverse proxies whose X-Forwarded-For the failed-login limit believes "
        "(JSON list, e.g. VSV_TRUSTED_PROXIES='[\"10.0.0.5\"]'); empty: none, "
        "the connection's address counts.",
    )
    retention_raw_weeks: int = Field(
        default=120,
        ge=1,
        description="School weeks that raw weekly data (answers, attendance, results) are kept.",
    )
    retention_score_weeks: int = Field(
        default=80, ge=1, description="School weeks that stored scores and their explanations are kept."
    )
    audit_retention_min_weeks: int = Field(
        default=26,
        ge=26,
        description="Minimum weeks the audit log is kept (at least 26: six months, as the AI Act asks).",
    )

    # --- the questionnaire asked by Vroegsignaal itself, and the student's own view (issue 16) ----------
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="Address at which students reach the service; their personal links start with it "
        "(<public_url>/v/<token>).",
    )
    round_link_days: int = Field(
        default=7, ge=1, le=60, description="Days a round's personal links stay valid after the round opens."
    )
    reminder_after_days: int = Field(
        default=3,
        ge=0,
        le=60,
        description="Days after the invitation before `vsv rounds remind` sends the one reminder to a "
        "student who has not answered.",
    )
    smtp_host: str | None = Field(
        default=None,
        description="SMTP server for invitations and reminders; unset: e-mails wait in the outbox (use the "
        "CSV of links, or set it and run `vsv rounds send`).",
    )
    smtp_port: int = Field(default=25, ge=1, le=65535, description="Port of the SMTP server.")
    smtp_starttls: bool = Field(default=False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_username: str | None = Field(default=None, description="SMTP login (with VSV_SMTP_PASSWORD).")
    smtp_password: str | None = Field(default=None, description="SMTP password.")
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120, description="SMTP connect/send timeout.")
    mail_from: str = Field(
        default="Vroegsignaal <vroegsignaal@school.example>",
        description="Sender of the invitations and reminders.",
    )
    max_send_attempts: int = Field(
        default=5, ge=1, le=100, description="Attempts per e-mail before it stays failed (shown to staff)."
    )
    school_name: str = Field(default="de school", description="The school's name as students read it.")
    zorg_contact: str = Field(
        default="iemand van het zorgteam",
        description="Who contacts a student who asks for help, as the student reads it (Dutch).",
    )
    crisis_contact: str = Field(
        default="Is het dringend, of denk je aan zelfmoord? Bel of chat dan met 113 Zelfmoordpreventie: "
        "bel 113 of gratis 0800-0113, of chat op 113.nl. Bij direct gevaar: bel 112.",
        description="The crisis contact every student page shows after a call for help (Dutch).",
    )
    student_sees_band: bool = Field(
        default=False,
        description="Whether a student's own view shows the band (laag, verhoogd, hoog) beside the "
        "reasons; the reasons are always shown.",
    )
    privacy_notice: Path | None = Field(
        default=None,
        description="Markdown file with the school's privacy notice for students; default is the shipped "
        "serving/web/content/privacy_notice.md.",
    )

    @model_validator(mode="after")
    def _refuse_insecure_defaults(self) -> Settings:
        """Outside development and test, refuse the development pseudonym key and short keys."""
        if self.environment in DEVELOPMENT_ENVIRONMENTS:
            return self
        if self.pseudonym_key == DEV_PSEUDONYM_KEY:
            raise ValueError(
                f"VSV_PSEUDONYM_KEY is the development default, which is refused in environment "
                f"{self.environment!r}: set a secret key of your own (e.g. `openssl rand -hex 32`)"
            )
        if len(self.pseudonym_key) < MIN_PSEUDONYM_KEY_LENGTH:
            raise ValueError(
                f"VSV_PSEUDONYM_KEY is shorter than {MIN_PSEUDONYM_KEY_LENGTH} characters, which is refused "
                f"in environment {self.environment!r} (e.g. `openssl rand -hex 32`)"
            )
        return self

    def docs_enabled(self) -> bool:
        """Whether /docs and /openapi.json are served."""
        if self.public_docs is not None:
            return self.public_docs
        return self.environment in DEVELOPMENT_ENVIRONMENTS

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
