"""Reading the YAML files users write (site configs, label maps, training configs): one
clear :class:`~maskwatch.errors.ConfigError` for a file that is missing, is not YAML, or is
not a mapping."""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError


def read_yaml_mapping(path: str | Path, what: str = "a config file is a YAML mapping of setting: value") -> dict:
    """The mapping in ``path`` ({} for an empty file).

    Args:
        path: the YAML file.
        what: what the file should be, said when it is not a mapping.

    Raises:
        ConfigError: naming the file and why it cannot be used.
    """
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: {what}")
    return raw
