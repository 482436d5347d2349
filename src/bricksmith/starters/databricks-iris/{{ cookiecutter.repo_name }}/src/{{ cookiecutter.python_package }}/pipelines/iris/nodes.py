"""Nodes of the iris pipeline, generated using Kedro {{ cookiecutter.kedro_version }}."""

import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


def split_data(
    data: pd.DataFrame, parameters: dict
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """Splits data into features and targets training and test sets.

    The split is seeded by ``random_state``, so a run is reproducible.

    Args:
        data: Data containing features and target.
        parameters: Parameters defined in parameters.yml.
    Returns:
        Split data: X_train, X_test, y_train, y_test.
    """
    target = parameters["target_column"]
    data_train = data.sample(
        frac=parameters["train_fraction"], random_state=parameters["random_state"]
    )
    data_test = data.drop(data_train.index)

    X_train = data_train.drop(columns=target)
    X_test = data_test.drop(columns=target)
    y_train = data_train[target]
    y_test = data_test[target]
    return X_train, X_test, y_train, y_test


def make_predictions(
    X_train: pd.DataFrame, X_test: pd.DataFrame, y_train: pd.Series
) -> pd.Series:
    """Uses a 1-nearest-neighbour classifier to predict the target of the test rows.

    Args:
        X_train: Training data of features.
        X_test: Test data for features.
        y_train: Training data for target.

    Returns:
        y_pred: Prediction of the target variable, indexed like ``X_test``.
    """
    X_train_numpy = X_train.to_numpy(dtype=float)
    X_test_numpy = X_test.to_numpy(dtype=float)

    squared_distances = np.sum(
        (X_train_numpy[:, None, :] - X_test_numpy[None, :, :]) ** 2, axis=-1
    )
    nearest_neighbour = squared_distances.argmin(axis=0)
    return pd.Series(
        y_train.to_numpy()[nearest_neighbour], index=X_test.index, name=y_train.name
    )


def report_accuracy(
    y_pred: pd.Series, y_test: pd.Series, y_train: pd.Series, train_fraction: float
) -> dict:
    """Calculates and logs the accuracy, and returns the run's metrics.

    Args:
        y_pred: Predicted target.
        y_test: True target.
        y_train: Training target (counted for the metrics).
        train_fraction: The fraction of the rows used for training.

    Returns:
        The metrics: accuracy, n_train, n_test, train_fraction (plain Python numbers).
    """
    accuracy = float((y_pred.to_numpy() == y_test.to_numpy()).mean())
    logger.info("Model has an accuracy of %.3f on test data.", accuracy)
    return {
        "accuracy": accuracy,
        "n_train": int(len(y_train)),
        "n_test": int(len(y_test)),
        "train_fraction": float(train_fraction),
    }
