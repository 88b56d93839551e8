"""Reading a YAML file into a pydantic model, with errors that name the
file, the line or field, and the reason (config files, persona cards)."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


def read_mapping(path: Path, error: type[Exception], what: str) -> dict:
    """The YAML mapping in ``path`` (empty for an empty file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except UnicodeDecodeError as err:
        raise error(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise error(f"{path}{where}: not valid YAML: {getattr(err, 'problem', None) or err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"{path}: a {what} is a mapping of fields, not {type(data).__name__}")
    return data


def validate(model: type[Model], data: dict, path: Path, error: type[Exception]) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        lines = [f"{path}: {'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in err.errors()]
        raise error("\n".join(lines)) from None
