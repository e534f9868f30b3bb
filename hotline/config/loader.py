"""Reading menus.yaml: strict YAML (no key given twice), validation against the schema, and an
error (`ConfigError`) that names each bad field as a dotted path into the file."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from hotline.config.base import ConfigError
from hotline.config.checks import audio_problems
from hotline.config.schema import HotlineConfig


def _union_tag(part: object) -> bool:
    """pydantic's name of a union member in an error's place (`list[Hours]`, `literal['24h']`)."""
    return isinstance(part, str) and ("[" in part or "'" in part)


def _format(error: ValidationError, source: str) -> str:
    lines = [f"{source} is invalid:"]
    errors = error.errors()
    # A value fitting no member of a union (hours: a list of windows or "24h") gets one error
    # per member: keep the list's, which says what is wrong, and drop "should be '24h'".
    for err in errors:
        msg = err["msg"].removeprefix("Value error, ")
        if not err["loc"]:  # cross-checks: each problem already names its field
            lines.extend(f"  {problem}" for problem in msg.split("; "))
            continue
        loc = err["loc"]
        if err["type"] == "literal_error" and _union_tag(loc[-1]) and len(errors) > 1:
            continue
        where = ".".join(str(p) for p in loc if not _union_tag(p))
        lines.append(f"  {where}: {msg}")
    return "\n".join(lines)


def parse(data: object, source: str = "menus.yaml") -> HotlineConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source} is invalid: the top level must be a mapping")
    try:
        return HotlineConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format(e, source)) from None


class _StrictLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping (YAML keeps the last silently)."""


def _no_duplicates(
    loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[object, object]:
    keys: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if str(key) in keys:
            line = key_node.start_mark.line + 1
            raise ConfigError(f"duplicate key {key!r} at line {line}")
        keys.add(str(key))
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def load(path: Path) -> HotlineConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path} is not UTF-8 (byte {e.start}); save it as UTF-8") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except ConfigError as e:
        raise ConfigError(f"{path} is invalid: {e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from None
    cfg = parse(data, str(path))
    problems = list(audio_problems(cfg, path.parent / "audio"))
    if problems:
        raise ConfigError("\n  ".join([f"{path} is invalid:", *problems]))
    return cfg
