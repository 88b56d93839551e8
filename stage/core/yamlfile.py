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
    """``data`` (read from ``path``) as a ``model``; each problem names its
    line in the file, the field and the reason."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        root = nodes(path)
        lines = []
        for e in err.errors():
            loc = [p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
            line = line_of(root, loc)
            where = f"{path}:{line}" if line else f"{path}"
            lines.append(f"{where}: {'.'.join(str(p) for p in loc) or '(top level)'}: {e['msg']}")
        raise error("\n".join(lines)) from None


def nodes(path: Path):
    """The file's YAML node tree (for line numbers), or None if it cannot be read."""
    try:
        return yaml.compose(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def line_of(node, loc) -> int | None:
    """The line (from 1) of the YAML node at ``loc`` (keys and indices), or
    of the nearest node above it that the file has."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(key)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line
