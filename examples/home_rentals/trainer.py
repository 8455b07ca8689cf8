"""Train one version of the home_rentals model and report its status to modelhooks.

The producer's side of the story. The status goes ``generating`` (preparing the
data), then ``training``, then ``complete`` once the model is saved, or
``error`` when anything on the way fails. The saved model is what a receiver
loads when it hears ``complete``, so it is written before that status is sent.

scikit-learn's bundled diabetes table stands in for home rentals: it ships
inside the package, so nothing is downloaded. Its ``target`` column plays the
rental price.

    python examples/home_rentals/trainer.py --version 1 [--fail] [--target COLUMN]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import joblib
import numpy
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from service import Service, ServiceError

log = logging.getLogger("home_rentals.trainer")

DEFAULT_WORKDIR = Path(tempfile.gettempdir()) / "modelhooks-home-rentals"
DEFAULT_TARGET = "target"


class TrainingFailed(Exception):
    """Training could not produce a model; reported to modelhooks as ``error``."""


def housing_table() -> tuple[list[str], numpy.ndarray]:
    """The stand-in for the home rentals table: column names and rows."""
    bundled = load_diabetes()
    columns = [*bundled.feature_names, "target"]
    return columns, numpy.column_stack([bundled.data, bundled.target])


def select(columns: list[str], rows: numpy.ndarray, names: list[str]) -> numpy.ndarray:
    return rows[:, [columns.index(name) for name in names]]


def model_path(workdir: Path, name: str, version: int) -> Path:
    """Where a version of model ``name`` is saved; trainer and receiver agree."""
    return workdir / "models" / name / f"v{version}.joblib"


def split_target(
    columns: list[str], rows: numpy.ndarray, target: str
) -> tuple[list[str], numpy.ndarray, numpy.ndarray]:
    """The feature names, the feature matrix and the target column."""
    if target not in columns:
        raise TrainingFailed(
            f"the target column must be one of {columns}; got {target!r}"
        )
    features = [name for name in columns if name != target]
    return features, select(columns, rows, features), rows[:, columns.index(target)]


def train(
    features: list[str], x: numpy.ndarray, y: numpy.ndarray, version: int, fail: bool
) -> dict:
    """Fit a scaled ridge regression and score it on a held-out quarter.

    Each version holds out its own quarter, so a retrained version differs a little.
    """
    if fail:
        raise TrainingFailed("training failed on purpose (--fail)")

    train_x, test_x, train_y, test_y = train_test_split(
        x, y, test_size=0.25, random_state=version
    )
    model = make_pipeline(StandardScaler(), Ridge(alpha=1.0))
    model.fit(train_x, train_y)

    return {
        "model": model,
        "features": features,
        "r2": float(model.score(test_x, test_y)),
    }


class StatusReporter:
    """Sends the statuses of one model version to ``POST /cloud/model_status``."""

    def __init__(self, service: Service, project: str, name: str, version: int):
        self.service = service
        self.version = {"project_name": project, "name": name, "version": version}
        # One creation time for all reports: it belongs to the version, not the status.
        self.created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def __call__(self, status: str, active: bool = False) -> None:
        body = {
            **self.version,
            "status": status,
            "active": active,
            "predictor_created_at": self.created_at,
        }
        answer = self.service.post("/cloud/model_status", body)
        log.info(
            "reported %s v%s %s -> %s (triggered: %s)",
            body["name"],
            body["version"],
            answer["old_status"],
            status,
            answer["triggered"],
        )


def run(args: argparse.Namespace, report: StatusReporter) -> None:
    report("generating")
    features, x, y = split_target(*housing_table(), args.target)

    report("training")
    trained = train(features, x, y, args.version, args.fail)
    log.info(
        "trained %s v%s: R^2 on held-out rows %.3f",
        args.name,
        args.version,
        trained["r2"],
    )

    path = model_path(args.workdir, args.name, args.version)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(trained, path)
    log.info("saved %s", path)
    report("complete", active=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--version", type=int, required=True)
    parser.add_argument("--name", default="home_rentals")
    parser.add_argument("--project", default="mindsdb")
    parser.add_argument("--target", default=DEFAULT_TARGET)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument(
        "--fail",
        action="store_true",
        help="fail during training, to see the error callback",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    args = parse_args(argv)
    try:
        report = StatusReporter(
            Service.from_env(), args.project, args.name, args.version
        )
        run(args, report)
        return 0
    except ServiceError as error:
        log.error("could not report to modelhooks: %s", error)
        return 2
    except Exception as error:
        # Whatever broke training, the model's watchers must hear about it.
        log.error("training %s v%s failed: %s", args.name, args.version, error)

    try:
        report("error")
    except ServiceError as error:
        log.error("could not report the failure to modelhooks: %s", error)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
