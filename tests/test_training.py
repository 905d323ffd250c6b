"""Classifier training, model files and the refusal of mismatched cells."""

import numpy as np
import pandas as pd
import pytest
import torch

from scrobin.cells import label_codes, split_rows
from scrobin.contract import SCROBIN_KEY
from scrobin.model.classifier import build_network, fit_classifier
from scrobin.model.logistic import logistic_baseline_metrics
from scrobin.data.model_input import split_cells
from scrobin.config import validate_config
from scrobin.errors import ScrobinError
from scrobin.model.check import check_model, explainable_model_flag
from scrobin.model.presets import preset_settings, resolve_model_config
from scrobin.model.store import check_compatible, load_model, save_model
from scrobin.model.network import MLPClassifier
from scrobin.data.prepare import prepare_dataset
from scrobin.inference import predict_classes, predict_logits
from scrobin.model.training import TrainingSettings, class_weights, train_classifier
from scrobin.model.config import SCHEMA as MODEL_SCHEMA
from scrobin.schema import section_defaults

from conftest import make_counts

SPEC = {"source": "x.h5ad", "label_key": "cell_type", "input_state": "auto"}


def training_settings(**overrides) -> TrainingSettings:
    """The schema's train defaults with the presets' choices fixed (batch 500, no class weights, no
    minimum of steps), and ``overrides``."""
    fixed = {"batch_size": 500, "class_weighting": "none", "early_stopping_min_steps": 0}
    return TrainingSettings.from_config({**section_defaults(MODEL_SCHEMA, "train"), **fixed, **overrides})


@pytest.fixture(scope="module")
def config():
    return validate_config(
        {
            "datasets": {"d": {"source": "simulate"}},
            "model": {"hidden_sizes": [16, 8], "dropout": [0.1, 0.0]},
            "train": {"batch_size": 32, "max_epochs": 25, "learning_rate": 0.01, "early_stopping_patience": 5},
            # fit_classifier takes a resolved budget (the workflow resolves attack.eps auto first).
            "attack": {"eps": 0.5},
            "device": "cpu",
        }
    )


@pytest.fixture(scope="module")
def prepared(config):
    return prepare_dataset(make_counts(n_cells=150, n_genes=30), "d", SPEC, config["prepare"], seed=0)


def test_paper_architecture():
    model = MLPClassifier(100, 4)
    widths = [m.out_features for m in model.layers if isinstance(m, torch.nn.Linear)]
    assert widths == [500, 250, 100, 80, 60, 40, 20, 4]
    rates = [m.p for m in model.layers if isinstance(m, torch.nn.Dropout)]
    assert rates == [0.1, 0.2]


def test_standard_training_learns_and_is_deterministic(config, prepared):
    model, metadata, history, test_predictions = fit_classifier(prepared, config, "standard", torch.device("cpu"))
    # The returned test predictions are the model's, in test-row order, and the metrics' source.
    x_test, y_test = split_cells(prepared, "test")
    np.testing.assert_array_equal(test_predictions, predict_classes(model, x_test))
    assert metadata["metrics"]["accuracy"] == pytest.approx(float(np.mean(test_predictions == y_test)))
    assert metadata["metrics"]["accuracy"] >= 0.9
    assert set(metadata["metrics"]["per_class_f1"]) == {"type_0", "type_1", "type_2"}
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    again, _, _, _ = fit_classifier(prepared, config, "standard", torch.device("cpu"))
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("monitor", ["validation_accuracy", "validation_loss"])
def test_early_stopping_keeps_the_best_epoch(monitor):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    y = rng.integers(0, 2, 60)  # labels unrelated to x: validation scores soon stop improving
    model = MLPClassifier(5, 2, [64], {})
    settings = training_settings(
        batch_size=20, max_epochs=200, early_stopping_patience=3, learning_rate=0.05, early_stopping_monitor=monitor
    )
    history = train_classifier(model, x[:40], y[:40], settings, 0, x[40:], y[40:])
    assert len(history.epochs) < 200
    assert len(history.epochs) - history.best_epoch == 3
    table = pd.DataFrame(history.epochs)
    best = table.loc[table["epoch"] == history.best_epoch].iloc[0]
    if monitor == "validation_loss":
        assert best["validation_loss"] == table["validation_loss"].min()
    else:
        assert best["validation_accuracy"] == table["validation_accuracy"].max()
    model.eval()
    with torch.no_grad():
        kept_accuracy = float((model(torch.from_numpy(x[40:])).argmax(1).numpy() == y[40:]).mean())
    assert kept_accuracy == pytest.approx(best["validation_accuracy"])


def test_min_delta_stops_a_creeping_loss_once_accuracy_is_perfect():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    x = (rng.normal(size=(80, 5)) + 3.0 * y[:, None]).astype(np.float32)  # separable: accuracy saturates

    def train(min_delta):
        settings = training_settings(batch_size=20, max_epochs=150, early_stopping_patience=5, learning_rate=0.01,
                                     weight_decay=0.0, early_stopping_monitor="validation_accuracy",
                                     early_stopping_min_delta=min_delta)
        model = MLPClassifier(5, 2, [32], {})
        return train_classifier(model, x[:60], y[:60], settings, 0, x[60:], y[60:])

    creeping, plateau = train(0.0), train(0.5)
    # Without min_delta the loss falls a little every epoch and training runs to max_epochs.
    assert len(creeping.epochs) == 150
    assert len(plateau.epochs) < 50
    table = pd.DataFrame(plateau.epochs)
    assert table["validation_accuracy"].max() == 1.0
    # The kept weights are still the best epoch's: perfect accuracy, and the lowest loss among those.
    best = table.loc[table["epoch"] == plateau.best_epoch].iloc[0]
    perfect = table[table["validation_accuracy"] == 1.0]
    assert best["validation_loss"] == perfect["validation_loss"].min()


def test_patience_spans_a_minimum_of_optimiser_steps():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    y = rng.integers(0, 2, 60)
    # 40 training cells in one batch: one optimiser step per epoch, so 3 epochs are 3 steps.
    settings = training_settings(batch_size=40, max_epochs=300, early_stopping_patience=3, early_stopping_min_steps=12,
                                learning_rate=0.05)
    history = train_classifier(MLPClassifier(5, 2, [64], {}), x[:40], y[:40], settings, 0, x[40:], y[40:])
    assert history.patience_epochs == 12
    assert len(history.epochs) - history.best_epoch == 12
    # Batches of 10 cells give 4 steps per epoch: 3 epochs of patience already span 12 steps.
    assert training_settings(early_stopping_patience=3, early_stopping_min_steps=12).patience_epochs(4) == 3
    assert training_settings(early_stopping_patience=0, early_stopping_min_steps=12).patience_epochs(1) == 0


def _linear_widths(model):
    return [m.out_features for m in model.layers if isinstance(m, torch.nn.Linear)]


def test_paper_preset_builds_the_papers_network():
    config = validate_config({"datasets": {"d": {"source": "simulate"}}, "model": {"preset": "paper"}})
    model_config, train_config = resolve_model_config(config, 1000)
    model = build_network(100, 4, model_config, 0, "cpu")
    assert _linear_widths(model) == [500, 250, 100, 80, 60, 40, 20, 4]
    assert [m.p for m in model.layers if isinstance(m, torch.nn.Dropout)] == [0.1, 0.2]
    assert train_config["batch_size"] == 500
    assert train_config["class_weighting"] == "none"
    # An explicit train setting wins over the preset's.
    _, train_config = resolve_model_config({**config, "train": {**config["train"], "batch_size": 64}}, 1000)
    assert train_config["batch_size"] == 64


def test_wide_preset_grows_with_the_training_cells():
    small, large = preset_settings("wide", 490), preset_settings("wide", 100_000)
    assert small["hidden_sizes"] == [256] and small["batch_size"] == 64
    assert large["hidden_sizes"] == [512] and large["batch_size"] == 512
    assert small["class_weighting"] == "balanced" and small["dropout"] == [0.5]


def test_default_model_matches_the_logistic_baseline(prepared):
    config = validate_config({"datasets": {"d": {"source": "simulate"}}, "device": "cpu", "train": {"max_epochs": 30}})
    _, logistic = logistic_baseline_metrics(prepared, seed=0)
    model, metadata, _, _ = fit_classifier(prepared, config, "standard", torch.device("cpu"), logistic_metrics=logistic)
    metrics = metadata["metrics"]
    assert metadata["model"]["preset"] == "wide" and len(model.architecture["hidden_sizes"]) == 1
    assert metrics["macro_f1"] >= logistic["macro_f1"] - 0.02
    assert metrics["logistic_baseline"] == {"accuracy": logistic["accuracy"], "macro_f1": logistic["macro_f1"]}
    assert metrics["model_check"]["flagged"] is False and metrics["model_check"]["reasons"] == []


def test_logistic_baseline_fits_a_capped_subsample_keeping_class_shares(prepared, monkeypatch):
    import scrobin.model.logistic as logistic

    fitted_labels = []
    fit = logistic.fit_logistic_baseline
    monkeypatch.setattr(logistic, "fit_logistic_baseline",
                        lambda x, y, **kwargs: fitted_labels.append(np.asarray(y)) or fit(x, y, **kwargs))
    train_labels = label_codes(prepared)[split_rows(prepared, "train")]
    _, every_cell = logistic_baseline_metrics(prepared, seed=0, train_cells=None)
    assert every_cell["n_train_cells"] == len(train_labels)
    cap = len(train_labels) // 3
    _, capped = logistic_baseline_metrics(prepared, seed=0, train_cells=cap)
    n_types = len(np.unique(train_labels))
    assert capped["n_train_cells"] == len(fitted_labels[-1]) and abs(capped["n_train_cells"] - cap) <= n_types
    shares = np.bincount(fitted_labels[-1], minlength=n_types) / len(fitted_labels[-1])
    np.testing.assert_allclose(shares, np.bincount(train_labels) / len(train_labels), atol=0.05)
    # A cap above the split fits every training cell: the same baseline as no cap.
    assert logistic_baseline_metrics(prepared, seed=0, train_cells=10 * len(train_labels))[1] == every_cell


def test_a_constant_model_is_flagged_and_can_stop_interpretation():
    classes = ["B", "T", "NK"]
    y_true = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2, 2])
    constant = np.full(10, 1)
    settings = {"max_macro_f1_below_logistic": 0.1, "max_predicted_share": 0.9, "on_flag": "warn"}
    check = check_model({"macro_f1": 0.2}, constant, y_true, classes, {"macro_f1": 0.9}, settings)
    assert check["flagged"] and check["most_predicted"] == "T" and check["predicted_share"] == 1.0
    assert any("near-constant: 100% of test cells are called T (truly 30%)" in r for r in check["reasons"])
    assert any("0.700 below the logistic baseline's 0.900" in r for r in check["reasons"])
    # A type that truly holds 95% of the cells may take 95% of the calls; a small gap is allowed.
    majority = np.array([0] * 19 + [1])
    fine = check_model({"macro_f1": 0.85}, majority.copy(), majority, classes[:2], {"macro_f1": 0.9}, settings)
    assert not fine["flagged"]
    metadata = {"dataset": "pbmc", "regime": "fgsm", "metrics": {"model_check": check}}
    assert explainable_model_flag(metadata, "warn").startswith("test macro-F1 0.200")
    with pytest.raises(ScrobinError, match="dataset pbmc: the fgsm model is not explained because .*near-constant"):
        explainable_model_flag(metadata, "stop")
    assert explainable_model_flag({"metrics": {"model_check": fine}}, "stop") == ""


def test_balanced_class_weights():
    weights = class_weights(np.array([0, 0, 0, 1]), 2, "balanced")
    assert torch.allclose(weights, torch.tensor([4 / 6, 2.0]))
    assert class_weights(np.array([0, 1]), 2, "none") is None


def test_sparse_and_dense_training_agree(config, prepared):
    import scipy.sparse as sp

    x = prepared.X[:64]
    y = prepared.obs["cell_type"].cat.codes.to_numpy()[:64].astype(np.int64)
    settings = training_settings(batch_size=16, max_epochs=2)
    models = []
    for matrix in (x, sp.csr_matrix(x)):
        torch.manual_seed(0)
        model = MLPClassifier(x.shape[1], 3, [8], {})
        train_classifier(model, matrix, y, settings, 0)
        models.append(model)
    assert np.allclose(predict_logits(models[0], x), predict_logits(models[1], x), atol=1e-6)


def test_model_file_round_trip_and_mismatch(tmp_path, config, prepared):
    model, metadata, _, _ = fit_classifier(prepared, {**config, "train": {**config["train"], "max_epochs": 2}}, "standard", torch.device("cpu"))
    path = tmp_path / "model.pt"
    save_model(path, model, metadata)
    loaded, meta = load_model(path)
    assert np.allclose(predict_logits(loaded, prepared.X), predict_logits(model, prepared.X))
    assert meta["classes"] == metadata["classes"] and meta["genes"] == metadata["genes"]
    transform = prepared.uns[SCROBIN_KEY]["transform"]
    check_compatible(meta, prepared.var_names, transform)
    with pytest.raises(ScrobinError, match="model genes missing"):
        check_compatible(meta, list(prepared.var_names[1:]) + ["other"], transform)
    with pytest.raises(ScrobinError, match="another order"):
        check_compatible(meta, list(prepared.var_names[::-1]), transform)
    with pytest.raises(ScrobinError, match="'scale_mean' differs"):
        check_compatible(meta, prepared.var_names, {**transform, "scale_mean": transform["scale_mean"] + 1})
    payload = torch.load(path, weights_only=True)  # loads without unpickling arbitrary objects
    assert set(payload) == {"state_dict", "metadata_json"}


def _robustness_config(config, mode):
    return {**config, "attack": {**config["attack"], "eps": 1.0, "pgd_iterations": 5},
            "model": {**config["model"], "hidden_sizes": [64, 32], "dropout": [0.0, 0.0]},
            "train": {**config["train"], "max_epochs": 80, "early_stopping_patience": 0},
            "adversarial_training": {**config["adversarial_training"], "mode": mode}}


def test_madry_training_resists_a_fresh_attack(config):
    from scrobin.attacks.gradient import pgd
    from scrobin.data.model_input import split_cells

    config = _robustness_config(config, "madry")
    prepared = prepare_dataset(make_counts(n_cells=150, n_genes=30, base_rate=30.0), "d", SPEC, config["prepare"], seed=0)
    standard, _, _, _ = fit_classifier(prepared, config, "standard", torch.device("cpu"))
    robust, metadata, _, _ = fit_classifier(prepared, config, "pgd", torch.device("cpu"))
    assert metadata["attack"]["eps"] == 1.0 and metadata["adversarial_training"]["mode"] == "madry"
    x, y = split_cells(prepared, "test")

    def robust_accuracy(model):  # fresh white-box attack against the model evaluated
        adversarial = pgd(model, x, y, eps=1.0, iterations=10, random_start=True, seed=1)
        return float((predict_logits(model, adversarial).argmax(1) == y).mean())

    assert robust_accuracy(robust) > robust_accuracy(standard) + 0.15


def test_one_shot_augmentation_learns_the_standard_models_adversarial_cells(config):
    from scrobin.attacks.gradient import pgd
    from scrobin.data.model_input import split_cells

    config = _robustness_config(config, "one_shot")
    prepared = prepare_dataset(make_counts(n_cells=150, n_genes=30, base_rate=30.0), "d", SPEC, config["prepare"], seed=0)
    standard, _, _, _ = fit_classifier(prepared, config, "standard", torch.device("cpu"))
    augmented, _, _, _ = fit_classifier(prepared, config, "pgd", torch.device("cpu"), standard=standard)
    x, y = split_cells(prepared, "test")
    transferred = pgd(standard, x, y, eps=1.0, iterations=10)  # the published (transfer) evaluation
    accuracy = {name: float((predict_logits(m, transferred).argmax(1) == y).mean()) for name, m in [("standard", standard), ("augmented", augmented)]}
    assert accuracy["augmented"] > accuracy["standard"] + 0.15


@pytest.mark.parametrize("same", [True, False])
def test_adversarial_model_starts_from_the_standard_initialisation(config, prepared, same, monkeypatch):
    import scrobin.model.classifier as classifier

    starts = []
    original = classifier.build_network

    def recording(*args, **kwargs):
        network = original(*args, **kwargs)
        starts.append({k: v.clone() for k, v in network.state_dict().items()})
        return network

    monkeypatch.setattr(classifier, "build_network", recording)
    short = {**config, "train": {**config["train"], "max_epochs": 1},
             "adversarial_training": {**config["adversarial_training"], "same_initialisation": same}}
    fit_classifier(prepared, short, "standard", torch.device("cpu"))
    fit_classifier(prepared, short, "fgsm", torch.device("cpu"))
    identical = all(torch.equal(starts[0][k], starts[1][k]) for k in starts[0])
    assert identical == same
