import pytest

from stage.core.config import ConfigError, FiresideConfig, load_config


def write(tmp_path, text: str | bytes):
    path = tmp_path / "fireside.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_defaults_without_a_file():
    config = load_config(None)
    assert config == FiresideConfig()
    assert config.voices.default == "joe"
    assert config.avatar.rig == "stylized" and config.avatar.size == 512 and config.avatar.fps == 25


def test_values_from_yaml(tmp_path):
    path = write(tmp_path, "avatar:\n  size: 256\n  fps: 30\nvoices:\n  default: espeak-en\n")
    config = load_config(path)
    assert (config.avatar.size, config.avatar.fps, config.voices.default) == (256, 30, "espeak-en")


def test_the_environment_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("FIRESIDE_CONFIG", str(write(tmp_path, "avatar:\n  fps: 20\n")))
    assert load_config().avatar.fps == 20


@pytest.mark.parametrize(
    "text, field, reason",
    [
        ("avatar:\n  colour: red\n", "avatar.colour", "Extra inputs are not permitted"),
        ("avatar:\n  fps: 0\n", "avatar.fps", "greater than or equal to 10"),
        ("avatar:\n  size: 500\n", "avatar.size", "multiple of 16"),
        ("avatar:\n  rig: cartoon\n", "avatar.rig", "stylized"),
        (
            "voices:\n  catalog:\n    - id: amy\n      engine: piper\n      language: en_US\n      model: /nope/amy.onnx\n",
            "voices.catalog.0",
            "does not exist",
        ),
    ],
)
def test_bad_config_names_file_field_and_reason(tmp_path, text, field, reason):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message and field in message and reason in message


def test_broken_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "avatar:\n  fps: 25\n  size: [512\n")
    with pytest.raises(ConfigError, match=rf"{path}:\d+:\d+: not valid YAML"):
        load_config(path)


def test_non_utf8_and_missing_files(tmp_path):
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(write(tmp_path, b"avatar:\n  rig: \xff\xfe\n"))
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="is a mapping of fields, not list"):
        load_config(write(tmp_path, "- just\n- a list\n"))
