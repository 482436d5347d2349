"""What plan says about a run step whose last attempt was interrupted, from its checkpoint
alone (no I/O): the job run it left, and what apply will do with it."""

from bricksmith.steps.run import RunNotebook


def step() -> RunNotebook:
    return RunNotebook(name="split-70", params={"train_fraction": 0.6}, timeout_minutes=5,
                       data_steps=())


OLD = {"params": {"train_fraction": 0.65}, "timeout_minutes": 5}


def test_a_run_in_flight_is_re_attached_or_adopted_when_nothing_changed():
    pending = {"_pending": True, "_run_id": 5, "_token": "t"}
    assert step().interrupted(pending, OLD, superseded=False) == [
        "job run 5 was not seen to finish: apply re-attaches to it"]
    finished = {**pending, "_result": "SUCCESS"}
    assert step().interrupted(finished, OLD, superseded=False) == [
        "job run 5 finished (SUCCESS): apply adopts its result"]


def test_a_run_in_flight_with_other_params_is_to_be_cancelled():
    pending = {"_pending": True, "_run_id": 5, "_token": "t"}
    assert step().interrupted(pending, OLD, superseded=True) == [
        "job run 5 (params train_fraction=0.65) may still be in flight: apply cancels it "
        "before submitting the new run"]
    assert step().interrupted({**pending, "_result": "SUCCESS"}, OLD, superseded=True) == [
        "job run 5 of the earlier inputs finished (SUCCESS); apply submits the run anew"]


def test_nothing_is_said_of_a_run_given_up_or_of_another_backends_checkpoint():
    assert step().interrupted({"_pending": False, "_run_id": 5}, OLD, superseded=True) == []
    assert step().interrupted({"_pid": 123, "_log": "x"}, OLD, superseded=True) == []


def test_a_submission_without_an_answer_is_named():
    (said,) = step().interrupted({"_pending": True, "_token": "t"}, OLD, superseded=False)
    assert "same idempotency token" in said
