"""Veileder: a Telegram bot and mailer that recruits supervisors for medical-student exchanges."""

__version__ = "0.1.0"
