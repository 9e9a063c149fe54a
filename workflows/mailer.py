"""E-mail for questionnaire rounds: the Dutch invitation and reminder (B1), sent with a real SMTP client
(:mod:`smtplib`): STARTTLS and a login when configured, a timeout on every step."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr

from data.calendar import SchoolCalendar, day_name, week_label_or_fallback
from data.rounds import KIND_REMINDER
from settings import Settings
from workflows.rounds import MailConnection, Outgoing
from workflows.safeguarding import SCHOOL_TZ
from workflows.users import aware


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    starttls: bool
    username: str | None
    password: str | None
    timeout: float
    sender: str


def moment_nl(value: datetime) -> str:
    """'dinsdag 8 december om 17:00' (school time; a time without a zone is UTC, as the store writes)."""
    local = aware(value).astimezone(SCHOOL_TZ)
    return f"{day_name(local.date())} om {local:%H:%M}"


def compose(mail: Outgoing, sender: str, school: str, calendar: SchoolCalendar) -> EmailMessage:
    """The e-mail of ``mail``: plain text, Dutch at B1 level, both personal links, the end date."""
    week = week_label_or_fallback(calendar, mail.week)
    greeting = f"Hoi {mail.given_name}," if mail.given_name else "Hoi,"
    reminder = mail.kind == KIND_REMINDER
    opening = (
        "Je hebt de vragenlijst van deze week nog niet ingevuld. Wil je dat nog doen? Het kost minder dan "
        "een minuut."
        if reminder
        else f"Hoe gaat het met je? {school.capitalize()} stelt je elke week een paar korte vragen. "
        "Het kost minder dan een minuut."
    )
    body = "\n".join(
        [
            greeting,
            "",
            opening,
            "",
            "Vul de vragenlijst in:",
            mail.answer_url,
            "",
            f"De link werkt tot {moment_nl(mail.expires_at)}. Hij is alleen voor jou: stuur hem niet door.",
            "",
            "Wil je zien wat de school over jou bijhoudt? Kijk hier:",
            mail.view_url,
            "",
            "Je mentor leest je antwoorden om je te helpen. Wil je met iemand praten? Zeg het in de "
            "vragenlijst of vertel het je mentor.",
            "",
            f"Groeten van {school}",
            "",
            f"(Vragenlijst {week})",
        ]
    )
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = (
        "Herinnering: hoe gaat het met je deze week?" if reminder else "Hoe gaat het met je deze week?"
    )
    message["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].split("@")[-1] or "vroegsignaal")
    message.set_content(body)
    return message


class _SmtpConnection:
    def __init__(self, client: smtplib.SMTP, settings: SmtpSettings, school: str, calendar: SchoolCalendar):
        self.client = client
        self.settings = settings
        self.school = school
        self.calendar = calendar

    def send(self, mail: Outgoing) -> None:
        self.client.send_message(compose(mail, self.settings.sender, self.school, self.calendar))


class SmtpMailer:
    """:class:`workflows.rounds.Mailer` over SMTP."""

    def __init__(self, settings: SmtpSettings, school: str, calendar: SchoolCalendar) -> None:
        self.settings = settings
        self.school = school
        self.calendar = calendar

    def connect(self) -> MailConnection:
        s = self.settings
        client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            if s.starttls:
                client.starttls()
            if s.username:
                client.login(s.username, s.password or "")
        except Exception:
            client.close()
            raise
        return _SmtpConnection(client, s, self.school, self.calendar)

    def close(self, connection: MailConnection) -> None:
        if isinstance(connection, _SmtpConnection):
            try:
                connection.client.quit()
            except (smtplib.SMTPException, OSError):
                connection.client.close()


def smtp_settings(settings: Settings) -> SmtpSettings | None:
    """The SMTP server of ``settings``, or None when none is configured (e-mails wait in the outbox)."""
    if not settings.smtp_host:
        return None
    return SmtpSettings(
        host=settings.smtp_host,
        port=settings.smtp_port,
        starttls=settings.smtp_starttls,
        username=settings.smtp_username,
        password=settings.smtp_password,
        timeout=settings.smtp_timeout_seconds,
        sender=settings.mail_from,
    )
