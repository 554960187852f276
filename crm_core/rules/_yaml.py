"""Reading a rules YAML file into a pydantic model, with errors that name the file and the
setting (:class:`~crm_core.errors.ConfigError`)."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from crm_core.errors import ConfigError

__all__ = ["load_yaml_model"]

M = TypeVar("M", bound=BaseModel)


def load_yaml_model(path: Path, model: type[M], *, what: str, holds: str, missing: str) -> M:
    """``path`` read as YAML and validated as ``model``; an empty file is an empty mapping.

    ``what`` names the file in errors (``the rules file``), ``holds`` says what its mapping
    holds, ``missing`` is the error when there is no such file.
    """
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(missing) from None
    except OSError as error:
        raise ConfigError(f"cannot read {what} {path}: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: {what} holds a mapping ({holds})")
    try:
        return model.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'file'}: {problem['msg']}"
            for problem in error.errors(include_url=False)
        )
        raise ConfigError(f"{path}: {problems}") from error
