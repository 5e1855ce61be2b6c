"""Training: the ``fit`` loop, ``evaluate``/``predict``, History, callbacks and metrics.

    from chainrule.training import fit, evaluate, EarlyStopping
    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3),
                  train=ds.train, val=ds.test, epochs=10, batch_size=64, seed=0,
                  callbacks=[EarlyStopping(patience=3)])
    print(evaluate(model, ds.test, metrics=["accuracy"]))

``recipes`` holds the default model and hyperparameters per data set used by the CLI.
"""
from __future__ import annotations

from .callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LRSchedulerCallback,
    ModelCheckpoint,
    StopAtTarget,
)
from .evaluation import evaluate, predict
from .fit import fit
from .history import History
from .metrics import (
    MAE,
    MSE,
    R2,
    Accuracy,
    RunningMetric,
    accuracy,
    balanced_accuracy,
    classification_report,
    confusion_matrix,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_f1,
    r2_score,
    regression_report,
    roc_auc,
)
from .run import Run, TrainingDiverged, TrainingInterrupted, current_lr
from .tensorboard import TensorBoard

__all__ = [
    "fit", "evaluate", "predict", "History", "Run", "TrainingDiverged", "TrainingInterrupted",
    "current_lr", "Callback", "EarlyStopping", "StopAtTarget", "CSVLogger", "ModelCheckpoint",
    "LRSchedulerCallback", "LambdaCallback", "TensorBoard", "accuracy", "confusion_matrix", "mean_squared_error",
    "mean_absolute_error", "r2_score", "precision_recall_f1", "balanced_accuracy", "roc_auc",
    "classification_report", "regression_report", "RunningMetric", "Accuracy", "MSE", "MAE", "R2",
]
