"""The stack config model: one structured key, validated once, every error naming its config path.

A stack file (`Pulumi.<stack>.yaml`) carries the installation under `daktela:installation` and its
secrets under separate secret keys (see `SECRET_KEYS`). `parse_installation` turns the plain part
into a typed `CloudConfig` or `OnPremConfig` (both an `Installation`) or raises `ConfigError`
listing *every* problem found, each with its path (`installation.backup.times[1]`) and what to do.
`load_stack_config` is what the Pulumi program calls; it reads the config through the SDK and
registers nothing.

Where each part lives:
    errors.py     Problem, ConfigError
    values.py     value types with messages for people (times, regions, prices, CIDRs, drives)
    model.py      the pydantic model, its defaults, CloudConfig/OnPremConfig, the secret keys
    rules.py      parse_installation: the model's messages, then the rules across settings
    stack.py      reading a stack's config through the SDK (StackConfig, load_stack_config)
    reference.py  docs/reference.md's table, generated from the model
"""

from components.config.errors import ConfigError, Problem
from components.config.model import (
    CONFIG_NAMESPACE, DEFAULT_BACKUP_TIMES, DEFAULT_MOUNT_POINTS, ID_LIMITED_BY, INSTALLATION_KEY, MAX_ID_LENGTH,
    MIN_MINUTES_BETWEEN_BACKUPS, ROOT, SECRET_KEYS, Backup, CloudConfig, CloudSettings, Contract, Database, Drive,
    Drives, Host, Hosting, Installation, Ledger, Notifications, OnPremConfig, OnPremSettings, PriceChange,
    PriceChangePrices, Prices, Regions, RestoreDrill, RtpPorts, SecretKey, VolumeSizes, Weekday,
)
from components.config.reference import config_reference
from components.config.rules import parse_installation
from components.config.stack import StackConfig, installation_value, load_stack_config, unknown_key_problems
from components.config.values import known_regions

__all__ = [
    "CONFIG_NAMESPACE", "DEFAULT_BACKUP_TIMES", "DEFAULT_MOUNT_POINTS", "ID_LIMITED_BY", "INSTALLATION_KEY",
    "MAX_ID_LENGTH", "MIN_MINUTES_BETWEEN_BACKUPS", "ROOT", "SECRET_KEYS", "Backup", "CloudConfig", "CloudSettings",
    "ConfigError", "Contract", "Database", "Drive", "Drives", "Host", "Hosting", "Installation", "Ledger",
    "Notifications", "OnPremConfig", "OnPremSettings", "PriceChange", "PriceChangePrices", "Prices", "Problem",
    "Regions", "RestoreDrill", "RtpPorts", "SecretKey", "StackConfig", "VolumeSizes", "Weekday", "config_reference",
    "installation_value", "known_regions", "load_stack_config", "parse_installation", "unknown_key_problems",
]
