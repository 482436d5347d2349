"""The statuses of a step's record, apart from the state store so that the planner (and a
replayed plan) can name them without importing the store."""

PENDING, RUNNING, SUCCEEDED, FAILED = "pending", "running", "succeeded", "failed"
