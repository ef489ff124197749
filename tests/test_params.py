"""The parameter table is the one source of the estimator's, the config's and the docs' rules."""

import inspect
from pathlib import Path

import numpy as np
import pytest

from ksparse import KSparseAutoencoder
from ksparse._params import PARAMS, InvalidParameterError, defaults, markdown_table, resolve
from ksparse.config import ConfigError, ModelConfig, RunConfig, field_docs

ROOT = Path(__file__).resolve().parents[1]


def test_the_estimator_signature_is_the_table():
    sig = inspect.signature(KSparseAutoencoder.__init__)
    params = [p for p in sig.parameters.values() if p.name != "self"]
    assert [p.name for p in params] == [p.name for p in PARAMS]
    assert {p.name: p.default for p in params} == defaults()


def test_model_config_is_the_table():
    import dataclasses

    fields = dataclasses.fields(ModelConfig)
    assert [(f.name, f.default) for f in fields] == [(p.name, p.default) for p in PARAMS]
    assert field_docs(ModelConfig) == {p.name: p.doc for p in PARAMS}


def test_docs_parameters_file_is_in_step_with_the_table():
    text = (ROOT / "docs" / "parameters.md").read_text()
    assert text.endswith(markdown_table()), "regenerate docs/parameters.md from ksparse._params.markdown_table()"


def test_the_estimator_docstring_lists_every_parameter():
    doc = KSparseAutoencoder.__doc__
    for p in PARAMS:
        assert f"\n    {p.name} : {p.allowed}" in doc


def test_cli_help_lists_every_parameter():
    from ksparse.cli import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices["train"]  # type: ignore[union-attr]
    epilog = sub.epilog
    for p in PARAMS:
        assert f"model.{p.name} (default" in epilog


@pytest.mark.parametrize("name,value", [
    ("n_hidden", 0), ("k", 0), ("k", 257), ("k", 2.0), ("activation", "relux"), ("selection", "max"),
    ("n_epochs", "many"), ("batch_size", -1), ("optimizer", "nope"), ("learning_rate", float("nan")),
    ("learning_rate", 0), ("lr_schedule", "step"), ("warmup_fraction", 1.0), ("k_start", 8),
    ("k_anneal_fraction", 1.5), ("auxk_k", 0), ("auxk_coef", -1), ("dead_samples", 0), ("dead_reset", "no"),
    ("diversity_coef", float("inf")), ("encoder_decay", -1), ("encoder_decay", 100.0),
    ("normalize_decoder", 1), ("output_bounds", "sideways"), ("clip_training", None),
    ("validation_fraction", 1.0), ("early_stopping", True), ("patience", 0), ("n_threads", 0),
    ("dtype", "float16"), ("random_state", -1), ("verbose", "yes"),
])
def test_every_rule_refuses_in_the_estimator_and_the_config_alike(name, value):
    with pytest.raises(InvalidParameterError, match=name):
        resolve({name: value})
    with pytest.raises(ValueError, match=name):
        KSparseAutoencoder(**{name: value}).fit(np.ones((4, 3)))
    with pytest.raises(ConfigError, match=f"model.{name}"):
        RunConfig.from_dict({"model": {name: value}})


def test_refusals_are_value_and_type_errors():
    with pytest.raises(ValueError):
        resolve({"k": "3"})
    with pytest.raises(TypeError):
        resolve({"k": "3"})


def test_resolve_fills_the_derived_values():
    r = resolve({"n_hidden": 100, "k": 20})
    assert r["k_start"] == 80 and r["auxk_k"] == 40
    assert r["dtype"] == np.float32 and r["activation"].name == "relu"
    with pytest.raises(InvalidParameterError, match="unknown parameters"):
        resolve({"n_hiden": 3})
