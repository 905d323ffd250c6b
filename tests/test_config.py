"""Config validation: defaults are filled, and every mistake gets one line naming the fix."""

import pytest

from scrobin.config import validate_config
from scrobin.errors import ScrobinError

PBMC = {"source": "scanpy:pbmc68k_reduced"}


def test_defaults_are_filled():
    config = validate_config({"datasets": {"pbmc": dict(PBMC)}})
    assert config["prepare"]["n_top_genes"] == 2500
    assert config["model"]["preset"] == "wide" and config["model"]["hidden_sizes"] is None
    assert config["train"]["early_stopping_min_steps"] == 200
    assert config["datasets"]["pbmc"]["label_key"] == "bulk_labels"
    assert config["datasets"]["pbmc"]["input_state"] == "auto"


def test_simulation_takes_the_workflow_seed_unless_it_has_its_own():
    config = validate_config({"seed": 7, "datasets": {"a": {"source": "simulate"}, "b": {"source": "simulate", "simulation": {"seed": 3}}}})
    assert config["datasets"]["a"]["simulation"]["seed"] == 7
    assert config["datasets"]["b"]["simulation"]["seed"] == 3


@pytest.mark.parametrize(
    "config, expected",
    [
        ({"datasets": {"p": PBMC}, "prepare": {"n_top_gene": 10}}, "unknown key 'n_top_gene' in prepare: did you mean 'n_top_genes'?"),
        ({"datasets": {"p": PBMC}, "sed": 1}, "unknown key 'sed' in config: did you mean 'seed'?"),
        ({"datasets": {"p": {**PBMC, "lable_key": "x"}}}, "unknown key 'lable_key' in datasets.p: did you mean 'label_key'?"),
        ({"datasets": {"p": PBMC}, "device": "gpu"}, "device = 'gpu' is not allowed: use one of auto, cpu, cuda"),
        ({"datasets": {"p": PBMC}, "train": {"batch_size": "big"}}, "train.batch_size = 'big' has the wrong type"),
        ({"datasets": {"p": {"source": "s3://bucket/x"}}}, "is not a known source"),
        ({"datasets": {"p": {"source": "scanpy:pbmc3k"}}}, "unknown bundled dataset 'pbmc3k'"),
        ({"datasets": {"p": {"source": "missing.h5ad", "label_key": "x"}}}, "file 'missing.h5ad' does not exist"),
        ({"datasets": {"p": {"source": "missing.h5ad"}}}, "needs label_key (the obs column with cell types) or"),
        # An existing file names its obs columns, as a wrong label_key does.
        ({"datasets": {"p": {"source": "tests/data/pbmc_small.h5ad"}}}, "needs label_key (the obs column with cell "
                                                                          "types; its obs has: bulk_labels"),
        ({"datasets": {"p": {"source": "simulate", "simulation": {"n_cell": 5}}}}, "unknown simulation parameter 'n_cell'"),
        ({"datasets": {"bad name": PBMC}}, "must use only letters"),
        ({"datasets": {"comparison": PBMC}}, "is reserved"),
        ({"datasets": {}}, "datasets"),
        ({}, "missing the required key 'datasets'"),
        ({"datasets": {"p": PBMC}, "model": {"hidden_sizes": [10, 5], "dropout": [0.1]}}, "one dropout rate per hidden layer"),
        ({"datasets": {"p": PBMC}, "model": {"preset": "paper", "dropout": [0.1]}}, "the paper preset has 7 layers"),
        ({"datasets": {"p": PBMC}, "model": {"preset": "deep"}}, "model.preset = 'deep' is not allowed: use one of wide, paper"),
    ],
)
def test_bad_config_gets_one_line(config, expected):
    with pytest.raises(ScrobinError) as caught:
        validate_config(config)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "section, expected",
    [
        ({"attribution": {"methods": {"kernel_shap": {}}}}, "attribution method 'kernel_shap' is unknown: use one of saliency"),
        ({"attribution": {"methods": {"integrated_gradients": {"steps": 5}}}}, "has no parameter 'steps'"),
        ({"attribution": {"methods": {"deeplift": {"baseline": "train_sample"}}}}, "cannot use baseline 'train_sample'"),
        ({"robustness": {"attacks": [{"name": "FGSM"}]}}, "config: robustness.attacks:"),
        ({"robustness": {"attacks": [{"name": "NoSuchAttack", "backend": "art"}]}}, "NoSuchAttack"),
        ({"eps_structure": {"attack": {"name": "pgd", "params": {"norm": "7x"}}}}, "config: eps_structure.attack:"),
        ({"enrichment": {"backend": "gmt", "gmt_path": "missing.gmt"}}, "missing.gmt"),
        ({"enrichment": {"sources": ["GO:XX"]}}, "GO:XX"),
    ],
)
def test_stage_settings_are_checked_at_config_time(section, expected):
    with pytest.raises(ScrobinError) as caught:
        validate_config({"datasets": {"p": PBMC}, **section})
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_schema_defaults_match_the_enrichment_module():
    from scrobin.enrichment.config import DEFAULTS

    config = validate_config({"datasets": {"p": PBMC}})
    assert {k: v for k, v in config["enrichment"].items() if k != "gmt_path"} == {k: v for k, v in DEFAULTS.items() if k != "gmt_path"}
    assert config["enrichment"]["gmt_path"].endswith(DEFAULTS["gmt_path"])


def test_default_config_is_valid():
    import yaml
    from pathlib import Path

    for name in ("config.yaml", "test.yaml", "paper.yaml"):
        config = yaml.safe_load((Path(__file__).parent.parent / "config" / name).read_text())
        validate_config(config)
    paper = validate_config(yaml.safe_load((Path(__file__).parent.parent / "config" / "paper.yaml").read_text()))
    assert paper["model"]["preset"] == "paper" and paper["attack"]["eps"] == 1.0
    assert paper["attribution"]["methods"]["kernelshap"]["n_baseline_samples"] == 500


def test_config_reference_is_generated_from_the_schema():
    from pathlib import Path

    from scrobin.config_docs import render
    from scrobin.data.simulate import SIMULATION_DEFAULTS, SIMULATION_MEANINGS

    committed = (Path(__file__).parent.parent / "config" / "README.md").read_text()
    assert committed == render(), "config/README.md is stale: run python -m scrobin.config_docs > config/README.md"
    assert set(SIMULATION_MEANINGS) == set(SIMULATION_DEFAULTS)


def test_every_schema_key_is_described():
    from scrobin.config import build_schema

    def undescribed(properties, prefix=""):
        for name, spec in properties.items():
            if "description" not in spec:
                yield prefix + name
            yield from undescribed(spec.get("properties", {}), f"{prefix}{name}.")

    schema = build_schema()
    missing = list(undescribed(schema["properties"])) + list(undescribed(schema["$defs"]["dataset"]["properties"], "datasets.<name>."))
    assert not missing


def test_the_workflow_schema_file_is_the_composed_stage_fragments():
    """Snakemake validates against workflow/schemas/config.schema.yaml; it must be exactly what the
    stages declare (python -m scrobin.config_docs --schema writes it)."""
    from pathlib import Path

    from scrobin.config_docs import render_schema

    committed = (Path(__file__).parent.parent / "workflow" / "schemas" / "config.schema.yaml").read_text()
    assert committed == render_schema(), (
        "workflow/schemas/config.schema.yaml is stale: run python -m scrobin.config_docs --schema > "
        "workflow/schemas/config.schema.yaml"
    )


def test_each_stage_declares_its_own_sections_once():
    from scrobin.config import STAGES, build_schema

    owned = [section for stage in STAGES for section in stage.SCHEMA["properties"]]
    assert len(owned) == len(set(owned))
    assert set(build_schema()["properties"]) == {"datasets", "seed", "replicates", "device", *owned}


def test_a_config_naming_only_a_dataset_runs_on_the_shipped_settings():
    """The shipped config names its datasets and sets nothing else, so a user's config that names
    only a dataset gets exactly the settings of the default run."""
    import yaml
    from pathlib import Path

    shipped = yaml.safe_load((Path(__file__).parent.parent / "config" / "config.yaml").read_text())
    assert set(shipped) == {"datasets"}
    for name, spec in shipped["datasets"].items():
        own = validate_config({"datasets": {name: spec}})
        default_run = validate_config(shipped)
        assert {key: value for key, value in own.items() if key != "datasets"} == {
            key: value for key, value in default_run.items() if key != "datasets"}
        assert own["datasets"][name] == default_run["datasets"][name]


def test_key_order_of_the_config_file_does_not_matter():
    first = validate_config({"seed": 1, "datasets": {"b": PBMC, "a": {"source": "simulate"}}, "train": {"max_epochs": 3, "batch_size": 8}})
    second = validate_config({"train": {"batch_size": 8, "max_epochs": 3}, "datasets": {"a": {"source": "simulate"}, "b": PBMC}, "seed": 1})
    assert list(first) == list(second) and list(first["train"]) == list(second["train"])
    assert repr(first) == repr(second)
