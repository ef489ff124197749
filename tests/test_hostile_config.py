"""Hostile configuration files: alias bombs, huge or deep files, other encodings, binary data.

Every such file must be refused with a :class:`ksparse.config.ConfigError` that
names the file and the problem, quickly and in little memory, and never with a
RecursionError, UnicodeDecodeError or MemoryError. The last part proves that a
configuration accepts and refuses exactly the model values the estimator does.
"""

import dataclasses
import json
import math
import random
import time
import tracemalloc
import warnings

import pytest

from ksparse.config import (
    MAX_CONFIG_BYTES,
    MAX_DEPTH,
    MAX_YAML_NODES,
    ConfigError,
    ModelConfig,
    RunConfig,
    load_config,
)

# The classic "billion laughs": nine levels of ten aliases, 10**9 strings once expanded.
BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
model: {k: *i}
"""


def refused(path, *needles, overrides=()):
    """Load ``path``; assert a ConfigError naming the file and every needle; return its message."""
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert str(path) in message, message
    for needle in needles:
        assert needle in message, message
    return message


# ------------------------------------------------------------------ aliases


def test_billion_laughs_is_refused_fast_and_small(tmp_path):
    warm = tmp_path / "warm.yaml"  # the first load imports yaml; time the refusal, not the import
    warm.write_text("model:\n  k: 5\n")
    load_config(warm)
    p = tmp_path / "lol.yaml"
    p.write_text(BILLION_LAUGHS)
    assert p.stat().st_size < 1000
    t0 = time.perf_counter()
    message = refused(p, "anchors", "not supported in ksparse configs", "line 1")
    seconds = time.perf_counter() - t0
    assert seconds < 0.1, f"took {seconds:.2f} s"
    assert "&a" in message
    tracemalloc.start()
    try:
        refused(p, "anchors")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize(
    "text, needle",
    [
        ("model: &m {k: 5}\n", "anchors (&m)"),  # an anchor alone is refused too
        ("base: &b {k: 5}\nmodel:\n  <<: *b\n", "anchors (&b)"),  # merge keys need an alias
        ("model:\n  k: 5\n  n_hidden: *x\n", "aliases (*x)"),  # an alias without its anchor
        ("model:\n  output_bounds: [&z 0, *z]\n", "anchors (&z)"),
    ],
)
def test_every_anchor_and_alias_is_refused(tmp_path, text, needle):
    p = tmp_path / "a.yaml"
    p.write_text(text)
    refused(p, needle, "not supported in ksparse configs")


def test_alias_in_an_override_is_refused(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model:\n  k: 5\n")
    bomb = "[" + ",".join(["&a [lol,lol,lol]"] + ["*a"] * 9) + "]"
    with pytest.raises(ConfigError, match=r"override .*aliases|override .*anchors"):
        load_config(p, [f"data.limit={bomb}"])


def test_ampersand_and_star_inside_strings_are_fine(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("output_dir: 'runs/&a*b'\n")
    assert load_config(p).output_dir == "runs/&a*b"


# ------------------------------------------------------------------ size


def test_size_cap(tmp_path):
    body = "model:\n  k: 5\n"
    p = tmp_path / "big.yaml"
    # exactly at the limit: a long comment and a valid configuration
    p.write_text("#" + "x" * (MAX_CONFIG_BYTES - len(body) - 2) + "\n" + body)
    assert p.stat().st_size == MAX_CONFIG_BYTES
    assert load_config(p).model.k == 5
    # one byte more
    p.write_text("#" + "x" * (MAX_CONFIG_BYTES - len(body) - 1) + "\n" + body)
    refused(p, "larger than 1 MiB", f"{MAX_CONFIG_BYTES:,} bytes")


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_huge_sparse_file_is_refused_without_reading_it(tmp_path, suffix):
    p = tmp_path / f"huge{suffix}"
    with open(p, "wb") as f:
        f.truncate(4 * 2**30)  # 4 GiB of holes: reading it all would take long and much memory
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        refused(p, "larger than 1 MiB")
    finally:
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert seconds < 1.0 and peak < 4 * MAX_CONFIG_BYTES


def test_many_yaml_values_are_refused(tmp_path):
    p = tmp_path / "long.yaml"
    p.write_text("model:\n  output_bounds:\n" + "    - 1\n" * (MAX_YAML_NODES + 10))
    t0 = time.perf_counter()
    refused(p, f"more than {MAX_YAML_NODES:,} values")
    assert time.perf_counter() - t0 < 1.0


# ------------------------------------------------------------------ nesting


def nested_list(depth):
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
@pytest.mark.parametrize("depth", [MAX_DEPTH, 1_000, 100_000])
def test_deep_nesting_is_refused(tmp_path, suffix, depth):
    p = tmp_path / f"deep{suffix}"
    p.write_text('{"model": {"activation": ' + nested_list(depth) + "}}")
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert time.perf_counter() - t0 < 1.0
    message = str(info.value)
    assert str(p) in message
    if depth + 2 > MAX_DEPTH:
        assert "nested too deeply" in message and f"more than {MAX_DEPTH} levels" in message
    else:  # within the limit the value itself is judged (and refused: no such activation)
        assert "nested too deeply" not in message and "model.activation=" in message


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_deep_nesting_at_the_top_level(tmp_path, suffix):
    p = tmp_path / f"deep{suffix}"
    p.write_text(nested_list(100_000))
    refused(p, "line 1: nested too deeply")


def test_deep_block_yaml(tmp_path):
    p = tmp_path / "deep.yaml"
    p.write_text("".join("  " * i + "a:\n" for i in range(MAX_DEPTH + 5)) + "  " * (MAX_DEPTH + 5) + "1\n")
    refused(p, "nested too deeply")


def test_brackets_inside_json_strings_do_not_count(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"output_dir": "[" * 1000 + '"{' * 100, "model": {"k": 5}}))
    cfg = load_config(p)
    assert cfg.output_dir.startswith("[[[") and cfg.model.k == 5


# ------------------------------------------------------------------ encodings and binary data


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_are_refused(tmp_path, suffix, encoding):
    text = "model:\n  k: 5\n" if suffix == ".yaml" else '{"model": {"k": 5}}'
    p = tmp_path / f"c{suffix}"
    p.write_bytes(text.encode(encoding))
    refused(p, "not UTF-8 text", "save the configuration as UTF-8")


def test_latin1_is_refused_with_the_offset(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_bytes("output_dir: caf\u00e9\n".encode("latin-1"))
    refused(p, "not UTF-8 text", "byte 0xe9 at offset 15")


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    for suffix, text in ((".yaml", "model:\n  k: 5\n"), (".json", '{"model": {"k": 5}}')):
        p = tmp_path / f"bom{suffix}"
        p.write_bytes(b"\xef\xbb\xbf" + text.encode())
        assert load_config(p).model.k == 5


def test_random_binary_is_refused(tmp_path):
    rng = random.Random(0)
    for i in range(50):
        for suffix in (".yaml", ".json"):
            p = tmp_path / f"bin{i}{suffix}"
            p.write_bytes(rng.randbytes(rng.randint(1, 4096)))
            refused(p)


def test_mutated_configs_fail_only_with_config_errors(tmp_path):
    """Random byte edits of a valid file either load or raise ConfigError; nothing else escapes."""
    rng = random.Random(1)
    good = {
        ".yaml": b"model:\n  n_hidden: 40\n  k: 8\n  learning_rate: 1e-3\n  output_bounds: [0, 1]\n"
                 b"data:\n  limit: 100\noutput_dir: out\nseed: 3\n",
        ".json": json.dumps({"model": {"n_hidden": 40, "k": 8, "output_bounds": [0, 1]},
                             "data": {"limit": 100}, "output_dir": "out", "seed": 3}).encode(),
    }
    alphabet = b'&*![]{}:,-"\'\\#|>%@`\n \t0123456789.eE+-xyz\x00\xff\xc3'
    for suffix, text in good.items():
        p = tmp_path / f"m{suffix}"
        for _ in range(300):
            data = bytearray(text)
            for _ in range(rng.randint(1, 4)):
                pos = rng.randrange(len(data))
                op = rng.random()
                if op < 0.4:
                    data[pos] = rng.choice(alphabet)
                elif op < 0.7:
                    data.insert(pos, rng.choice(alphabet))
                else:
                    del data[pos]
            p.write_bytes(bytes(data))
            try:
                cfg = load_config(p)
            except ConfigError as exc:
                assert str(p) in str(exc)
            else:
                assert isinstance(cfg, RunConfig)


@pytest.mark.parametrize(
    "text, needle",
    [
        ("seed: 2024-01-01\n", "seed=datetime.date(2024, 1, 1) is not allowed"),
        ("output_dir: !!binary aGVsbG8=\n", "output_dir=b'hello' is not allowed"),
        ("model:\n  dtype: !!binary ZjQ=\n", "model.dtype=b'f4' is not allowed"),
        ("model:\n  activation: !!set {relu}\n", "model.activation={'relu'} is not allowed"),
        ("model: !!python/object:os.system {}\n", "not valid YAML"),
        ("model:\n  k: !custom 5\n", "not valid YAML"),
        ("seed: " + "9" * 5000 + "\n", "not valid YAML"),
        ("--- {}\n--- {}\n", "not valid YAML"),
        ("model:\n  k: 5\n  k: 6\n", None),  # PyYAML keeps the last duplicate; it is not an error
    ],
)
def test_other_yaml_types_are_refused(tmp_path, text, needle):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    if needle is None:
        assert load_config(p).model.k == 6
    else:
        refused(p, needle)


def test_json_number_too_long_is_refused(tmp_path):
    p = tmp_path / "c.json"
    p.write_text('{"seed": ' + "9" * 5000 + "}")
    refused(p, "not valid JSON")


def test_folder_instead_of_a_file(tmp_path):
    d = tmp_path / "dir.yaml"
    d.mkdir()
    refused(d, "is a folder")


# ------------------------------------------------------------------ one set of rules


NAN, INF = math.nan, math.inf

#: parameter -> values to try; good and bad ones, with the awkward cases at the borders
VALUES = {
    "n_hidden": [1, 10, 256, 0, -1, 2.5, 10.0, "10", True, None, [10]],
    "k": [1, 32, 256, 257, 0, -3, 1.0, "5", None, False],
    "learning_rate": [1e-3, 1, 0.5, 0, 0.0, -1e-3, NAN, INF, -INF, "1e-3", True, None, 10**400, [0.1]],
    "encoder_decay": [0, 0.3, 5.0, 99.0, 100.0, 1e6, -1, -1e-9, NAN, INF, "x", None, False],
    "warmup_fraction": [0, 0.05, 0.999, 1.0, 1, -0.1, 1.5, NAN, None, "0.1"],
    "k_anneal_fraction": [0, 0.5, 1.0, 1.01, -0.5, NAN],
    "validation_fraction": [0, 0.5, 0.99, 1.0, -0.1, NAN],
    "auxk_coef": [0, 1 / 32, 10, -1, NAN, INF],
    "diversity_coef": [0, 0.1, -0.1, INF, "0.1"],
    "optimizer": ["sgd", "sparse_adam", "adam", "rmsprop", "sparse_adagrad", "nope", "", "ADAM", 3, None],
    "activation": ["relu", "gelu", "ReLU", "leaky-relu", " tanh ", {"name": "leaky_relu", "alpha": 0.2},
                   {"name": "relu", "beta": 1}, {}, {"name": 3}, "relux", 1, None, [], ["relu"]],
    "selection": ["value", "abs", "max", "", "VALUE", None],
    "lr_schedule": ["constant", "warmup", "linear", "cosine", "step", "Cosine", None],
    "n_epochs": ["auto", 1, 200, 0, -1, "many", "AUTO", 2.0, None, True],
    "batch_size": [1, 32, 100_000, 0, -32, 1.5, "32"],
    "k_start": [None, 32, 128, 256, 31, 257, 0, "x", 64.0],
    "auxk_k": [None, 1, 256, 0, 257, 2.0],
    "dead_samples": [1, 5000, 0, -5, 1e3],
    "patience": [1, 5, 0, -1, 5.0],
    "n_threads": [1, 2, -1, 1000, None, 0, -2, 1.0, "4", True],
    "dtype": ["float32", "float64", "f4", "float", "double", "float16", "int32", "nope", None, 3, ["f4"]],
    "output_bounds": ["auto", None, [0, 1], [-1.5, 2], [None, 1], [0, None], [None, None], [1, 0], [0, 0],
                      [0, NAN], [0], [0, 1, 2], "zero", [True, 1], [0, "1"], [-INF, INF]],
    "clip_training": [True, False, 1, 0, None, "yes"],
    "dead_reset": [True, False, 0, None, "no"],
    "normalize_decoder": [True, False, 1.0],
    "verbose": [True, False, 1, "yes", None],
    "early_stopping": [False, True, 0, None],
    "random_state": [None, 0, 7, 2**31, 2**63, -1, 1.5, "seed", True, [1]],
}


def estimator_accepts(params):
    from ksparse.autoencoder import KSparseAutoencoder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. more threads than CPUs
        try:
            KSparseAutoencoder(**params)._check_params()
        except Exception:  # any refusal, whatever its type
            return False
    return True


def config_accepts(params, tmp_path=None):
    try:
        RunConfig.from_dict({"model": params})
    except ConfigError as exc:
        key = next(iter(params))
        assert f"model.{key}" in str(exc), f"the message does not name model.{key}: {exc}"
        return False
    return True


def json_file_accepts(params, tmp_path):
    """The same values written to a JSON file (NaN and Infinity included) and loaded."""
    p = tmp_path / "v.json"
    p.write_text(json.dumps({"model": params}))
    try:
        load_config(p)
    except ConfigError:
        return False
    return True


CASES = [(name, value) for name, values in VALUES.items() for value in values]


@pytest.mark.parametrize("name, value", CASES, ids=[f"{n}={v!r}"[:60] for n, v in CASES])
def test_config_and_estimator_accept_the_same_values(tmp_path, name, value):
    params = {name: value}
    expected = estimator_accepts(params)
    assert config_accepts(params) == expected, f"estimator {'accepts' if expected else 'refuses'} {params}"
    assert json_file_accepts(params, tmp_path) == expected


@pytest.mark.parametrize(
    "params",
    [
        {"n_hidden": 10, "k": 20},
        {"n_hidden": 10, "k": 10},
        {"k": 8, "k_start": 4},
        {"k": 8, "k_start": 8},
        {"n_hidden": 16, "auxk_k": 17},
        {"learning_rate": 0.5, "encoder_decay": 2.0},
        {"learning_rate": 0.5, "encoder_decay": 1.9},
        {"early_stopping": True},
        {"early_stopping": True, "validation_fraction": 0.1},
        {"validation_fraction": 0.1, "patience": 0},
    ],
)
def test_combinations_follow_the_estimator(tmp_path, params):
    expected = estimator_accepts(params)
    try:
        RunConfig.from_dict({"model": params})
        got = True
    except ConfigError:
        got = False
    assert got == expected
    assert json_file_accepts(params, tmp_path) == expected


@pytest.mark.parametrize(
    "key, param, value",
    [("threads", "n_threads", v) for v in (1, 4, -1, 1000, 0, -2, 2.0, "4", True)]
    + [("seed", "random_state", v) for v in (0, 3, 2**31, -1, 1.5, "x", False)],
)
def test_run_seed_and_threads_follow_the_estimator(key, param, value):
    """The run's seed and threads replace model.random_state and model.n_threads: the estimator's rules apply."""
    expected = estimator_accepts({param: value})
    try:
        RunConfig.from_dict({key: value})
        got = True
    except ConfigError as exc:
        assert str(exc).startswith(f"{key}="), exc
        got = False
    assert got == expected


def test_estimator_checks_every_model_field():
    """The configuration has no rule of its own for a model value: the estimator must have one.

    For every ModelConfig field the estimator must refuse an arbitrary object;
    otherwise a configuration would take any value for it.
    """
    for f in dataclasses.fields(ModelConfig):
        params = {f.name: object()}
        if f.name == "early_stopping":
            params["validation_fraction"] = 0.1  # else refused for the missing split, whatever the value
        assert not estimator_accepts(params), f"the estimator does not check {f.name}"


def test_without_libyaml(tmp_path, monkeypatch):
    """The same refusals with PyYAML's pure-Python parser (when libyaml is not installed)."""
    import yaml

    import ksparse.config as config

    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    monkeypatch.setattr(config, "_LOADER", None)
    assert config._config_loader().__mro__[1] is yaml.SafeLoader
    p = tmp_path / "c.yaml"
    p.write_text("model:\n  learning_rate: 1e-3\n")
    assert load_config(p).model.learning_rate == 0.001
    t0 = time.perf_counter()
    for text, needle in ((BILLION_LAUGHS, "anchors (&a)"), (nested_list(100_000), "nested too deeply"),
                         ("- 1\n" * (MAX_YAML_NODES + 1), f"more than {MAX_YAML_NODES:,} values")):
        p.write_text(text)
        refused(p, needle)
    assert time.perf_counter() - t0 < 2.0


@pytest.mark.parametrize(
    "section, key",
    [("model", "optimizer"), ("model", "activation"), ("model", "dtype"), ("model", "learning_rate"),
     ("model", "random_state"), ("data", "dataset"), (None, "seed"), ("model", None), (None, None)],
)
def test_huge_values_give_short_messages(tmp_path, section, key):
    """A value of half a megabyte is refused with a message of a few hundred characters."""
    big = "x" * 500_000
    entry = {big: 1} if key is None else {key: big}
    p = tmp_path / "c.json"
    p.write_text(json.dumps(entry if section is None else {section: entry}))
    message = refused(p)
    assert len(message) < 1500, len(message)
