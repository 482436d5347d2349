"""Clusters: starting one the way ensure_cluster_is_running does."""

import pytest
from databricks.sdk import errors
from databricks.sdk.service.compute import State

from bricksmith.emulator import DEFAULT_CLUSTER_ID


def test_ensure_cluster_is_running_starts_a_terminated_cluster(w, emulator):
    assert w.clusters.get(DEFAULT_CLUSTER_ID).state == State.TERMINATED
    w.clusters.ensure_cluster_is_running(DEFAULT_CLUSTER_ID)
    info = w.clusters.get(DEFAULT_CLUSTER_ID)
    assert info.state == State.RUNNING and info.cluster_name
    assert emulator.calls["POST /api/2.1/clusters/start"] == 1
    w.clusters.ensure_cluster_is_running(DEFAULT_CLUSTER_ID)  # already running: nothing to do
    assert emulator.calls["POST /api/2.1/clusters/start"] == 1


def test_start_states_and_errors(w, emulator):
    emulator.set_cluster_state(DEFAULT_CLUSTER_ID, "RUNNING")
    with pytest.raises(errors.InvalidState):
        w.clusters.start(DEFAULT_CLUSTER_ID)
    with pytest.raises(errors.ResourceDoesNotExist):
        w.clusters.get("no-such-cluster")
    w.clusters.delete(DEFAULT_CLUSTER_ID).result()
    assert emulator.cluster_state() == "TERMINATED"
    assert [c.cluster_id for c in w.clusters.list()] == [DEFAULT_CLUSTER_ID]
