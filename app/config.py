"""Where the clinic lives on this machine, and the settings that can be overridden."""

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_data_dir

DB_FILE = "clinic.db"
KEY_FILE = "clinic.key"


def default_data_dir() -> Path:
    env = os.environ.get("CHAIRSIDE_DATA_DIR")
    return Path(env) if env else Path(user_data_dir("Chairside", "Chairside"))


@dataclass(frozen=True)
class Paths:
    data_dir: Path

    @property
    def db(self) -> Path:
        return self.data_dir / DB_FILE

    @property
    def key_file(self) -> Path:
        return self.data_dir / KEY_FILE


def workstation_name() -> str:
    return os.environ.get("CHAIRSIDE_WORKSTATION_NAME") or socket.gethostname()


def env_int(name: str, default: int) -> int:
    """An integer setting from the environment, ignoring values that are not numbers."""
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default
