"""Config input that is not what a config should be: one message naming the file or the field."""

from __future__ import annotations

import pytest

ALIAS_BOMB = "\n".join(["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
                       + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 12)]) + "\nepochs: 2\n"


@pytest.mark.parametrize("name, content, message", [
    ("latin.yaml", "epochs: 3\nname: café\n".encode("latin-1"), "is not UTF-8 text"),
    ("utf16.yaml", "epochs: 3\n".encode("utf-16"), "it looks like UTF-16"),
    ("utf16.toml", "epochs = 3\n".encode("utf-16"), "it looks like UTF-16"),
    ("deep.yaml", ("a: " + "[" * 5000 + "]" * 5000 + "\n").encode(), "nest too deeply"),
    ("deep-map.yaml", ("".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n").encode(), "more than 64 levels deep"),
    ("deep.toml", ("a = " + "[" * 5000 + "]" * 5000 + "\n").encode(), "nest"),
    ("bomb.yaml", ALIAS_BOMB.encode(), "aliases expand to more than 100,000 values"),
    ("list.yaml", b"- 1\n- 2\n", "expected a mapping of settings at the top level"),
    ("broken.yaml", b"epochs: [1, 2\n", "not valid YAML"),
    ("broken.toml", b"epochs = \n", "not valid TOML"),
])
def test_a_bad_config_file_is_named(cli, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    r = cli("train", "--config", str(path), "--print-config")
    assert r.code == 2, r.stderr
    assert name in r.stderr and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "Internal error" not in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--seed", "99999999999999999999999"], "seed: Input should be less than 9223372036854775808"),
    (["--seed", "-1"], "seed: Input should be greater than or equal to 0"),
    (["--set", "epochs=" + "[" * 3000 + "]" * 3000], "--set epochs=...: the value nests too deeply"),
    (["--set", "model.args=" + "{\"a\":" * 100 + "1" + "}" * 100], "--set model.args: its settings nest more than 64"),
])
def test_a_bad_setting_is_named(cli, args, message):
    r = cli("train", *args, "--print-config")
    assert r.code == 2 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
