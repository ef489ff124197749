"""Tests for ksparse.config: dataclasses, YAML/JSON files, errors, overrides."""

import dataclasses
import json

import pytest

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
    est = pytest.importorskip("ksparse.autoencoder").KSparseAutoencoder
    params = est().get_params()
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
        ({"model": {"k": "ten"}}, "model.k='ten' is not allowed: expected an integer"),
        ({"model": {"k": True}}, "model.k=True is not allowed"),
        ({"model": {"activation": "relux"}}, "model.activation='relux' is not allowed: expected one of 'linear'"),
        ({"model": {"selection": "max"}}, "one of 'value', 'abs'"),
        ({"model": {"dtype": "float16"}}, "model.dtype"),
        ({"model": {"k": 300}}, "model.k=300 is not allowed: must be at most n_hidden=256"),
        ({"model": {"k": 0}}, "must be a positive integer"),
        ({"model": {"n_epochs": 0}}, "model.n_epochs=0 is not allowed: must be a positive integer or 'auto'"),
        ({"model": {"n_epochs": "many"}}, "model.n_epochs='many' is not allowed: expected an integer or one of 'auto'"),
        ({"model": {"learning_rate": -1}}, "model.learning_rate"),
        ({"model": {"validation_fraction": 1.0}}, "model.validation_fraction"),
        ({"model": {"early_stopping": True}}, "needs validation_fraction"),
        ({"model": {"random_state": 1.5}}, "expected an integer or null"),
        ({"model": {"n_threads": 0}}, "model.n_threads"),
        ({"model": 3}, "model must be a mapping"),
        ({"data": {"dataset": "/no/such/folder"}}, "data.dataset"),
        ({"data": {"limit": 0}}, "data.limit"),
        ({"data": {"data_home": "/tmp"}}, "only with dataset: mnist-full"),
        ({"checkpoint_every": -1}, "checkpoint_every"),
        ({"threads": 0}, "threads"),
    ],
)
def test_errors_name_the_key(data, message):
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
