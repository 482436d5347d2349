"""The iris pipeline, generated using Kedro {{ cookiecutter.kedro_version }}."""

from kedro.pipeline import Node, Pipeline

from .nodes import make_predictions, report_accuracy, split_data


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=split_data,
                inputs=["example_iris_data", "parameters"],
                outputs=["X_train", "X_test", "y_train", "y_test"],
                name="split",
            ),
            Node(
                func=make_predictions,
                inputs=["X_train", "X_test", "y_train"],
                outputs="y_pred",
                name="make_predictions",
            ),
            Node(
                func=report_accuracy,
                inputs=["y_pred", "y_test", "y_train", "params:train_fraction"],
                outputs="metrics",
                name="report_accuracy",
            ),
        ]
    )
