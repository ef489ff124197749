"""Tests for ksparse.config: dataclasses, YAML/JSON files, errors, overrides."""

import dataclasses
import json

import pytest

from ksparse.autoencoder import KSparseAutoencoder
from ksparse.config import (
    ConfigError,
    DataConfig,
    ModelConfig,
    RunConfig,
    apply_overrides,
    field_docs,
    load_config,
    save_config,
)


def test_every_field_has_a_docstring():
    for cls in (ModelConfig, DataConfig, RunConfig):
        docs = field_docs(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        assert sorted(docs) == sorted(names), f"{cls.__name__}: fields without a docstring"
        assert all(len(d) > 10 for d in docs.values())


def test_model_config_matches_estimator():
    """ModelConfig's fields and defaults must equal KSparseAutoencoder().get_params()."""
    params = KSparseAutoencoder().get_params()
    fields = {f.name: f.default for f in dataclasses.fields(ModelConfig)}
    assert sorted(fields) == sorted(params)
    for name, default in params.items():
        assert fields[name] == default, f"ModelConfig.{name}={fields[name]!r}, estimator default {default!r}"


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_round_trip(tmp_path, suffix):
    cfg = RunConfig.from_dict(
        {"model": {"k": 10, "n_hidden": 50, "k_start": 30}, "data": {"limit": 100}, "seed": 3, "checkpoint_every": 2}
    )
    p = save_config(cfg, tmp_path / f"run{suffix}")
    assert load_config(p) == cfg
    if suffix == ".json":
        assert json.loads(p.read_text())["model"]["k"] == 10


def test_yaml_file_and_defaults(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model:\n  k: 5\n  learning_rate: 1e-3\noutput_dir: out\n")
    cfg = load_config(p)
    assert cfg.model.k == 5 and cfg.model.learning_rate == 0.001 and cfg.output_dir == "out"
    assert cfg.data == DataConfig() and cfg.model.n_hidden == ModelConfig().n_hidden
    (tmp_path / "empty.yaml").write_text("")
    assert load_config(tmp_path / "empty.yaml") == RunConfig()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"model": {"learnin_rate": 0.1}}, "unknown key 'model.learnin_rate'; did you mean 'model.learning_rate'?"),
        ({"modle": {}}, "unknown key 'modle'; did you mean 'model'?"),
        ({"zzz": 1}, "unknown key 'zzz'. Allowed keys: model, data"),
        ({"model": {"k": "ten"}}, "model.k='ten'"),
        ({"model": {"k": True}}, "model.k=True"),
        ({"model": {"k": 5.0}}, "model.k=5.0"),
        ({"model": {"activation": "relux"}}, "model.activation='relux'"),
        ({"model": {"selection": "max"}}, "model.selection='max'"),
        ({"model": {"dtype": "float16"}}, "model.dtype"),
        ({"model": {"k": 300}}, "model.k=300"),
        ({"model": {"n_hidden": 10, "k": 20}}, "model.k=20"),
        ({"model": {"k": 0}}, "model.k=0"),
        ({"model": {"k_start": 8}}, "model.k_start=8"),
        ({"model": {"n_epochs": 0}}, "model.n_epochs=0"),
        ({"model": {"n_epochs": "many"}}, "model.n_epochs='many'"),
        ({"model": {"learning_rate": -1}}, "model.learning_rate=-1"),
        ({"model": {"learning_rate": float("nan")}}, "model.learning_rate=nan"),
        ({"model": {"learning_rate": "0.01"}}, "model.learning_rate='0.01'"),
        ({"model": {"learning_rate": 10**400}}, "model.learning_rate=1000"),
        ({"model": {"encoder_decay": -1}}, "model.encoder_decay=-1"),
        ({"model": {"encoder_decay": 200}}, "model.encoder_decay=200"),
        ({"model": {"optimizer": "nope"}}, "model.optimizer='nope'"),
        ({"model": {"optimizer": "x" * 5000}}, "model.optimizer='xxxx"),
        ({"model": {"warmup_fraction": 1.0}}, "model.warmup_fraction=1.0"),
        ({"model": {"output_bounds": [1, 0]}}, "model.output_bounds=[1"),
        ({"model": {"activation": {"name": "relu", "beta": 1}}}, "model.activation="),
        ({"model": {"dtype": b"f4"}}, "model.dtype=b'f4' is not allowed: expected a string"),
        ({"model": {"validation_fraction": 1.0}}, "model.validation_fraction=1.0"),
        ({"model": {"early_stopping": True}}, "model.early_stopping=True"),
        ({"model": {"random_state": 1.5}}, "model.random_state=1.5"),
        ({"model": {"n_threads": 0}}, "model.n_threads=0"),
        ({"model": {"verbose": 1}}, "model.verbose=1"),
        ({"model": 3}, "model must be a mapping"),
        ({"data": {"dataset": "/no/such/folder"}}, "data.dataset"),
        ({"data": {"limit": 0}}, "data.limit"),
        ({"data": {"data_home": "/tmp"}}, "only with dataset: mnist-full"),
        ({"checkpoint_every": -1}, "checkpoint_every"),
        ({"threads": 0}, "threads=0"),
        ({"threads": -2}, "threads=-2"),
        ({"seed": 1.5}, "seed=1.5 is not allowed: expected an integer or null"),
        ({"data": {"limit": 1e3}}, "data.limit=1000.0 is not allowed: expected an integer or null"),
        ({"data": {"dataset": "x" * 5000}}, "(5002 characters) is not allowed"),
        ({"output_dir": ""}, "output_dir='' is not allowed: must be a folder path"),
    ],
)
def test_errors_name_the_key(data, message):
    """Every refusal names the key and the value (what follows a model key is the estimator's wording)."""
    with pytest.raises(ConfigError) as info:
        RunConfig.from_dict(data)
    assert message in str(info.value)


@pytest.mark.parametrize("value", ["auto", 3])
def test_n_epochs_auto_or_integer(value):
    assert RunConfig.from_dict({"model": {"n_epochs": value}}).model.n_epochs == value


def test_file_errors(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)
    p.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(p)
    p.write_text("model:\n  kk: 3\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: unknown key 'model.kk'; did you mean 'model.k'"):
        load_config(p)
    with pytest.raises(ConfigError, match="use .yaml, .yml or .json"):
        load_config(tmp_path / "c.toml")
    with pytest.raises(FileNotFoundError, match="no such configuration file"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "c.json").write_text("{bad json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(tmp_path / "c.json")


def test_overrides_beat_file_values(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model:\n  k: 5\n  n_hidden: 50\ndata:\n  limit: 10\n")
    cfg = load_config(p, ["model.k=20", "data.limit=null", "seed=7", "model.activation=tanh", "model.learning_rate=2e-3"])
    assert cfg.model.k == 20 and cfg.data.limit is None and cfg.seed == 7
    assert cfg.model.activation == "tanh" and cfg.model.learning_rate == 0.002 and cfg.model.n_hidden == 50
    with pytest.raises(ConfigError, match="did you mean 'model.k'"):
        load_config(p, ["model.kk=3"])
    with pytest.raises(ConfigError, match="section.key=value"):
        apply_overrides(RunConfig(), ["model.k"])
    with pytest.raises(ConfigError, match="'seed' is not a section"):
        apply_overrides(RunConfig(seed=1), ["seed.x=1"])


def test_model_params_apply_seed_and_threads():
    cfg = RunConfig.from_dict({"model": {"random_state": 1, "n_threads": 2}})
    assert cfg.model_params()["random_state"] == 1 and cfg.model_params()["n_threads"] == 2
    cfg = apply_overrides(cfg, ["seed=9", "threads=-1"])
    params = cfg.model_params()
    assert params["random_state"] == 9 and params["n_threads"] == -1
    assert set(params) == {f.name for f in dataclasses.fields(ModelConfig)}


def test_idx_folder_dataset(tmp_path):
    cfg = RunConfig.from_dict({"data": {"dataset": str(tmp_path)}})
    assert cfg.data.dataset == str(tmp_path)


def test_what_the_estimator_accepts_is_accepted(tmp_path):
    """Spellings the estimator takes, though the annotations do not list them, load and round-trip."""
    cfg = RunConfig.from_dict(
        {"model": {"activation": {"name": "leaky_relu", "alpha": 0.2}, "n_threads": None, "dtype": "f4",
                   "optimizer": "adam", "warmup_fraction": 0.0}}
    )
    assert cfg.model.activation == {"name": "leaky_relu", "alpha": 0.2} and cfg.model.n_threads is None
    for suffix in (".yaml", ".json"):
        assert load_config(save_config(cfg, tmp_path / f"r{suffix}")) == cfg
    assert RunConfig.from_dict({"model": {"activation": "ReLU"}}).model.activation == "ReLU"


def test_yaml_exponents_are_numbers(tmp_path):
    """YAML 1.1 reads 1e-3 as a string; a configuration reads it as the number it means."""
    p = tmp_path / "c.yaml"
    p.write_text("model:\n  learning_rate: 1e-3\n  auxk_coef: 3.125E-2\n  encoder_decay: 2e+0\n"
                 "  optimizer: '1e3'\n")
    with pytest.raises(ConfigError, match="model.optimizer='1e3' is not known"):  # quoted: a string
        load_config(p)
    p.write_text("model:\n  learning_rate: 1e-3\n  auxk_coef: 3.125E-2\n  encoder_decay: 2e+0\n")
    cfg = load_config(p)
    assert (cfg.model.learning_rate, cfg.model.auxk_coef, cfg.model.encoder_decay) == (0.001, 0.03125, 2.0)
    assert load_config(p, ["model.learning_rate=5e-4"]).model.learning_rate == 0.0005


def test_estimator_warnings_are_not_shown_on_load(recwarn):
    RunConfig.from_dict({"model": {"n_threads": 100_000}})
    assert not [w for w in recwarn if "n_threads" in str(w.message)]
