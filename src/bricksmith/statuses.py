"""The statuses of a step's record: at the bottom, owned by no layer, so that the state store,
the planner (and a replayed plan) and the executor name them alike without importing each
other."""

PENDING, RUNNING, SUCCEEDED, FAILED = "pending", "running", "succeeded", "failed"
